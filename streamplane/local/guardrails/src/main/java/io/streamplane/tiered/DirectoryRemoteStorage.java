package io.streamplane.tiered;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.server.log.remote.storage.LogSegmentData;
import org.apache.kafka.server.log.remote.storage.RemoteLogSegmentId;
import org.apache.kafka.server.log.remote.storage.RemoteLogSegmentMetadata;
import org.apache.kafka.server.log.remote.storage.RemoteResourceNotFoundException;
import org.apache.kafka.server.log.remote.storage.RemoteStorageException;
import org.apache.kafka.server.log.remote.storage.RemoteStorageManager;

/**
 * A RemoteStorageManager (KIP-405) keeping offloaded segments in a directory: the object
 * store of a local cluster, shared by its nodes.
 *
 * <p>Why our own: Kafka's LocalTieredStorage ships only in a test jar, which Maven Central
 * serves for 4.3.1, and that jar does not load in 4.4 brokers (it uses classes 4.4 moved).
 * This one is small enough to read in one sitting and is tested against real brokers.
 *
 * <p>Each segment is a folder {@code <dir>/<topic>-<partition>-<topic id>/<segment id>}
 * holding the segment and its indexes. A copy is written beside it and renamed into place,
 * so a broker that dies mid-copy leaves no half segment readers could find; a retry
 * replaces the leftover. Deleting is idempotent: the broker retries deletes.
 */
public final class DirectoryRemoteStorage implements RemoteStorageManager {
    public static final String DIR_CONFIG = "dir";

    private Path root;

    @Override
    public void configure(Map<String, ?> configs) {
        Object dir = configs.get(DIR_CONFIG);
        if (dir == null || dir.toString().isBlank()) {
            throw new IllegalArgumentException(
                "rsm.config.dir must name the directory that holds offloaded segments");
        }
        root = Path.of(dir.toString());
        try {
            Files.createDirectories(root);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + root, e);
        }
    }

    private Path folder(RemoteLogSegmentMetadata metadata) {
        RemoteLogSegmentId id = metadata.remoteLogSegmentId();
        TopicIdPartition tp = id.topicIdPartition();
        return root.resolve(tp.topic() + "-" + tp.partition() + "-" + tp.topicId())
            .resolve(id.id().toString());
    }

    @Override
    public Optional<RemoteLogSegmentMetadata.CustomMetadata> copyLogSegmentData(
            RemoteLogSegmentMetadata metadata, LogSegmentData data) throws RemoteStorageException {
        Path target = folder(metadata);
        Path partial = target.resolveSibling(target.getFileName() + ".partial");
        try {
            deleteTree(partial);
            Files.createDirectories(partial);
            Files.copy(data.logSegment(), partial.resolve(Part.SEGMENT.file));
            Files.copy(data.offsetIndex(), partial.resolve(Part.OFFSET.file));
            Files.copy(data.timeIndex(), partial.resolve(Part.TIMESTAMP.file));
            if (data.transactionIndex().isPresent()) {
                Files.copy(data.transactionIndex().get(), partial.resolve(Part.TRANSACTION.file));
            }
            Files.copy(data.producerSnapshotIndex(), partial.resolve(Part.PRODUCER_SNAPSHOT.file));
            try (FileChannel out = FileChannel.open(partial.resolve(Part.LEADER_EPOCH.file),
                    StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                out.write(data.leaderEpochIndex().duplicate());
            }
            deleteTree(target);
            Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new RemoteStorageException("copying " + metadata.remoteLogSegmentId() + " failed", e);
        }
        return Optional.empty();
    }

    @Override
    public InputStream fetchLogSegment(RemoteLogSegmentMetadata metadata, int startPosition)
            throws RemoteStorageException {
        return fetchLogSegment(metadata, startPosition, Integer.MAX_VALUE);
    }

    @Override
    public InputStream fetchLogSegment(RemoteLogSegmentMetadata metadata, int startPosition, int endPosition)
            throws RemoteStorageException {
        if (startPosition < 0 || endPosition < startPosition) {
            throw new IllegalArgumentException(
                "invalid range [" + startPosition + ", " + endPosition + "] of " + metadata.remoteLogSegmentId());
        }
        Path file = folder(metadata).resolve(Part.SEGMENT.file);
        try {
            FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
            channel.position(startPosition);
            // endPosition is inclusive (the interface's contract).
            long length = Math.min((long) endPosition, channel.size() - 1) - startPosition + 1;
            return new Bounded(Channels.newInputStream(channel), Math.max(0, length));
        } catch (NoSuchFileException e) {
            throw new RemoteResourceNotFoundException("no segment " + metadata.remoteLogSegmentId(), e);
        } catch (IOException e) {
            throw new RemoteStorageException("reading " + metadata.remoteLogSegmentId() + " failed", e);
        }
    }

    @Override
    public InputStream fetchIndex(RemoteLogSegmentMetadata metadata, IndexType indexType)
            throws RemoteStorageException {
        Path file = folder(metadata).resolve(Part.of(indexType).file);
        try {
            return Files.newInputStream(file);
        } catch (NoSuchFileException e) {
            throw new RemoteResourceNotFoundException(
                "no " + indexType + " index for " + metadata.remoteLogSegmentId(), e);
        } catch (IOException e) {
            throw new RemoteStorageException("reading an index of " + metadata.remoteLogSegmentId() + " failed", e);
        }
    }

    @Override
    public void deleteLogSegmentData(RemoteLogSegmentMetadata metadata) throws RemoteStorageException {
        try {
            deleteTree(folder(metadata));
        } catch (IOException e) {
            throw new RemoteStorageException("deleting " + metadata.remoteLogSegmentId() + " failed", e);
        }
    }

    @Override
    public void close() {}

    private static void deleteTree(Path path) throws IOException {
        if (!Files.exists(path)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(path)) {
            for (Path p : (Iterable<Path>) walk.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** The files of one offloaded segment. */
    private enum Part {
        SEGMENT("segment"),
        OFFSET("offset-index"),
        TIMESTAMP("time-index"),
        TRANSACTION("transaction-index"),
        PRODUCER_SNAPSHOT("producer-snapshot"),
        LEADER_EPOCH("leader-epoch-checkpoint");

        final String file;

        Part(String file) {
            this.file = file;
        }

        static Part of(IndexType type) {
            switch (type) {
                case OFFSET: return OFFSET;
                case TIMESTAMP: return TIMESTAMP;
                case TRANSACTION: return TRANSACTION;
                case PRODUCER_SNAPSHOT: return PRODUCER_SNAPSHOT;
                case LEADER_EPOCH: return LEADER_EPOCH;
                default: throw new IllegalArgumentException("unknown index type " + type);
            }
        }
    }

    /** At most {@code remaining} bytes of a stream; closing it closes the file. */
    private static final class Bounded extends FilterInputStream {
        private long remaining;

        Bounded(InputStream in, long remaining) {
            super(in);
            this.remaining = remaining;
        }

        @Override
        public int read() throws IOException {
            if (remaining <= 0) {
                return -1;
            }
            int b = super.read();
            if (b >= 0) {
                remaining--;
            }
            return b;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            if (remaining <= 0) {
                return -1;
            }
            int n = super.read(buffer, offset, (int) Math.min(length, remaining));
            if (n > 0) {
                remaining -= n;
            }
            return n;
        }
    }
}
