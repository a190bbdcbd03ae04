// Checks a Pinot schema and REALTIME table config with Pinot's own classes (pinot-spi):
// the JSON binds to Schema and TableConfig, the schema passes Schema.validate(), the time
// column is a date-time field of the schema, the table's schema name matches, and every
// stream config is one Pinot's StreamConfig accepts. Run by `streamplane lake export
// --engine pinot --check` as a single-file program: java -cp <pinot-spi jars> PinotCheck.java
// SCHEMA.json TABLE.json. Prints "ok" or the problem, exits 1 on a problem.
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.apache.pinot.spi.config.table.TableConfig;
import org.apache.pinot.spi.config.table.TableType;
import org.apache.pinot.spi.data.Schema;
import org.apache.pinot.spi.stream.StreamConfig;
import org.apache.pinot.spi.utils.IngestionConfigUtils;
import org.apache.pinot.spi.utils.JsonUtils;
import org.apache.pinot.spi.utils.builder.TableNameBuilder;

public class PinotCheck {
  public static void main(String[] args) throws Exception {
    try {
      Schema schema = Schema.fromString(Files.readString(Path.of(args[0])));
      schema.validate();
      TableConfig table = JsonUtils.stringToObject(Files.readString(Path.of(args[1])), TableConfig.class);
      if (table.getTableType() != TableType.REALTIME) {
        throw new IllegalStateException("table type is " + table.getTableType() + ", not REALTIME");
      }
      String schemaName = table.getValidationConfig().getSchemaName();
      if (schemaName != null && !schemaName.equals(schema.getSchemaName())) {
        throw new IllegalStateException("table names schema " + schemaName + ", the schema is " + schema.getSchemaName());
      }
      String time = table.getValidationConfig().getTimeColumnName();
      if (time != null && schema.getSpecForTimeColumn(time) == null) {
        throw new IllegalStateException("time column " + time + " is not a date-time field of the schema");
      }
      String withType = TableNameBuilder.REALTIME.tableNameWithType(table.getTableName());
      var maps = IngestionConfigUtils.getStreamConfigMaps(table);
      if (maps.isEmpty()) {
        throw new IllegalStateException("no stream config");
      }
      for (Map<String, String> map : maps) {
        new StreamConfig(withType, map);
      }
      System.out.println("ok");
    } catch (Exception e) {
      System.out.println(e.getClass().getSimpleName() + ": " + e.getMessage());
      System.exit(1);
    }
  }
}
