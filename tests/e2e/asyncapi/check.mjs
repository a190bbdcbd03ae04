// Parses AsyncAPI documents with the official parser (and its Avro and Protobuf schema
// parsers); prints one JSON line per document with its error diagnostics, exits 1 on any.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";
import { AvroSchemaParser } from "@asyncapi/avro-schema-parser";
import { ProtoBuffSchemaParser } from "@asyncapi/protobuf-schema-parser";

const parser = new Parser();
parser.registerSchemaParser(AvroSchemaParser());
parser.registerSchemaParser(ProtoBuffSchemaParser());
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"), { source: file });
  const errors = diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join(".")}: ${d.message}`);
  failed ||= errors.length > 0 || !document;
  const channels = document ? document.channels().length : 0;
  const operations = document ? document.operations().length : 0;
  const messages = document ? document.allMessages().length : 0;
  console.log(JSON.stringify({ file, errors, channels, operations, messages }));
}
process.exit(failed ? 1 : 0);
