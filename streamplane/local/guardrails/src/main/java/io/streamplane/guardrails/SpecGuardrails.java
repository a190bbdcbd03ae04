package io.streamplane.guardrails;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.PolicyViolationException;
import org.apache.kafka.server.policy.AlterConfigPolicy;
import org.apache.kafka.server.policy.CreateTopicPolicy;

/**
 * The spec's topic rules, enforced by the broker for every client, the admin and Kafka's own
 * CLI included. The rules are a properties file that `streamplane apply` writes from the spec
 * (see streamplane/reconcile/_guardrails.py for what each key means); it is re-read whenever it
 * changes, so a new spec takes effect without restarting the brokers. Without the file (a
 * cluster the spec was never applied to) nothing is enforced.
 *
 * One class serves both policy interfaces: Kafka instantiates each separately, and both need
 * the same rules. Every refusal names the rule, so an admin knows which spec entry to change.
 */
public final class SpecGuardrails implements CreateTopicPolicy, AlterConfigPolicy {
    /** Broker property naming the rules file. */
    public static final String RULES_FILE = "streamplane.guardrails.rules.file";

    private Path rulesFile;
    private int defaultReplicationFactor = 1;
    private int defaultMinInsync = 1;
    private FileTime loadedAt;
    private Rules rules = Rules.NONE;

    @Override
    public void configure(Map<String, ?> configs) {
        Object file = configs.get(RULES_FILE);
        rulesFile = file == null ? null : Path.of(file.toString());
        defaultReplicationFactor = intOf(configs.get("default.replication.factor"), 1);
        defaultMinInsync = intOf(configs.get("min.insync.replicas"), 1);
    }

    @Override
    public void validate(CreateTopicPolicy.RequestMetadata request) throws PolicyViolationException {
        Rules current = current();
        String topic = request.topic();
        if (current.enforced() && !Rules.isPlatformTopic(topic)) {
            current.checkName(topic);
            int rf = request.replicationFactor() != null && request.replicationFactor() > 0
                ? request.replicationFactor()
                : request.replicasAssignments() != null && !request.replicasAssignments().isEmpty()
                    ? request.replicasAssignments().values().iterator().next().size()
                    : defaultReplicationFactor;
            current.checkReplication(topic, rf);
            current.checkConfigs(topic, request.configs(), defaultMinInsync);
        }
    }

    @Override
    public void validate(AlterConfigPolicy.RequestMetadata request) throws PolicyViolationException {
        ConfigResource resource = request.resource();
        if (resource.type() != ConfigResource.Type.TOPIC) {
            return;
        }
        Rules current = current();
        if (current.enforced() && !Rules.isPlatformTopic(resource.name())) {
            current.checkConfigs(resource.name(), request.configs(), defaultMinInsync);
        }
    }

    @Override
    public void close() {}

    /** The rules as the file says now; re-read only when its modification time moved. */
    private synchronized Rules current() {
        if (rulesFile == null) {
            return Rules.NONE;
        }
        try {
            FileTime modified = Files.getLastModifiedTime(rulesFile);
            if (!modified.equals(loadedAt)) {
                Properties props = new Properties();
                try (InputStream in = Files.newInputStream(rulesFile)) {
                    props.load(in);
                }
                rules = Rules.from(props);
                loadedAt = modified;
            }
        } catch (NoSuchFileException e) {
            rules = Rules.NONE;
            loadedAt = null;
        } catch (IOException e) {
            // Keep the last rules read: a half-written file must not switch enforcement off.
        }
        return rules;
    }

    private static int intOf(Object value, int fallback) {
        if (value == null) {
            return fallback;
        }
        try {
            return Integer.parseInt(value.toString().trim());
        } catch (NumberFormatException e) {
            return fallback;
        }
    }

    /** One parsed rules file. */
    record Rules(
            boolean enforced,
            List<String> prefixes,
            List<String> names,
            String source,
            int minReplication,
            int minInsync,
            long maxRetentionMs,
            boolean tieredAllowed,
            boolean uncleanForbidden) {
        static final Rules NONE = new Rules(false, List.of(), List.of(), "", 1, 1, -1, true, false);

        static Rules from(Properties p) {
            return new Rules(
                    true,
                    list(p.getProperty("naming.prefixes", "")),
                    list(p.getProperty("naming.names", "")),
                    p.getProperty("source", "the spec"),
                    Integer.parseInt(p.getProperty("replication.min", "1")),
                    Integer.parseInt(p.getProperty("min.insync.replicas.min", "1")),
                    Long.parseLong(p.getProperty("retention.max.ms", "-1")),
                    Boolean.parseBoolean(p.getProperty("retention.tiered.allowed", "false")),
                    Boolean.parseBoolean(p.getProperty("unclean.leader.election.forbidden", "true")));
        }

        /** Topics of the platform itself (registry, audit, offsets): never a tenant's. */
        static boolean isPlatformTopic(String topic) {
            return topic.startsWith("_");
        }

        private static List<String> list(String csv) {
            List<String> out = new ArrayList<>();
            for (String item : Arrays.asList(csv.split(","))) {
                if (!item.isBlank()) {
                    out.add(item.trim());
                }
            }
            return out;
        }

        private PolicyViolationException refuse(String rule, String message) {
            return new PolicyViolationException(
                    "streamplane guardrail '" + rule + "' (from " + source + "): " + message);
        }

        void checkName(String topic) {
            if (names.contains(topic)) {
                return;
            }
            for (String prefix : prefixes) {
                if (topic.startsWith(prefix)) {
                    return;
                }
            }
            throw refuse("naming", "topic " + topic + " is in no tenant's namespace (topics start with "
                    + String.join(", ", prefixes) + "); declare it under its tenant in the spec and"
                    + " apply");
        }

        void checkReplication(String topic, int rf) {
            if (rf < minReplication) {
                throw refuse("replication", "topic " + topic + " has replication factor " + rf
                        + "; this cluster requires at least " + minReplication);
            }
        }

        void checkConfigs(String topic, Map<String, String> configs, int defaultMinInsync) {
            if (configs == null) {
                configs = Map.of();
            }
            String minIsr = configs.get("min.insync.replicas");
            int isr = minIsr == null ? defaultMinInsync : Integer.parseInt(minIsr.trim());
            if (isr < minInsync) {
                throw refuse("replication", "topic " + topic + " has min.insync.replicas " + isr
                        + "; this cluster requires at least " + minInsync
                        + " (one broker loss must not lose acknowledged writes)");
            }
            if (uncleanForbidden && "true".equalsIgnoreCase(configs.get("unclean.leader.election.enable"))) {
                throw refuse("unclean-leader-election", "topic " + topic
                        + " sets unclean.leader.election.enable=true, which can drop acknowledged"
                        + " records; add replicas instead");
            }
            String retention = configs.get("retention.ms");
            boolean remote = "true".equalsIgnoreCase(configs.get("remote.storage.enable"));
            boolean compacted = "compact".equals(configs.get("cleanup.policy"));
            if (retention != null && maxRetentionMs >= 0 && !compacted && !(remote && tieredAllowed)) {
                long ms = Long.parseLong(retention.trim());
                if (ms < 0 || ms > maxRetentionMs) {
                    throw refuse("tiered-retention", "topic " + topic + " asks retention.ms=" + ms
                            + ", beyond the " + maxRetentionMs + " ms brokers keep on local disk"
                            + (tieredAllowed ? "; set remote.storage.enable=true" : "; this cluster"
                            + " has no tiered storage"));
                }
            }
        }
    }
}
