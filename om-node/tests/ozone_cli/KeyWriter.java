// A Java program on Apache Ozone's own client API (OzoneClient, ObjectStore, OzoneBucket), as
// an application would use it: it creates a volume and a bucket, then writes empty keys one by
// one and reads each back, printing "acked N" after each and "failed KEY: REASON" for any
// operation that threw. The last line is "done ok=N failed=M"; the exit code is 0 only when
// nothing failed. After PAUSE_AT keys it prints "paused" and waits for a line on stdin, so the
// test can stop a node at a known point. Run by tests/ozone_client.rs with Java's source
// launcher (no build step).
//
// Arguments: SERVICE_ID VOLUME BUCKET COUNT PAUSE_AT

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

import org.apache.hadoop.hdds.conf.OzoneConfiguration;
import org.apache.hadoop.ozone.client.ObjectStore;
import org.apache.hadoop.ozone.client.OzoneBucket;
import org.apache.hadoop.ozone.client.OzoneClient;
import org.apache.hadoop.ozone.client.OzoneClientFactory;
import org.apache.hadoop.ozone.client.OzoneKeyDetails;
import org.apache.hadoop.ozone.client.OzoneVolume;
import org.apache.hadoop.ozone.client.io.OzoneOutputStream;

public class KeyWriter {
    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: KeyWriter SERVICE_ID VOLUME BUCKET COUNT PAUSE_AT");
            System.exit(2);
        }
        String serviceId = args[0];
        String volume = args[1];
        String bucket = args[2];
        int count = Integer.parseInt(args[3]);
        int pauseAt = Integer.parseInt(args[4]);
        BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        int failed = 0;
        try (OzoneClient client = OzoneClientFactory.getRpcClient(serviceId, new OzoneConfiguration())) {
            ObjectStore store = client.getObjectStore();
            store.createVolume(volume);
            OzoneVolume v = store.getVolume(volume);
            v.createBucket(bucket);
            OzoneBucket b = v.getBucket(bucket);
            for (int i = 0; i < count; i++) {
                String key = "key-" + i;
                try {
                    OzoneOutputStream out = b.createKey(key, 0);
                    out.close();
                    OzoneKeyDetails details = b.getKey(key);
                    if (!details.getName().equals(key) || details.getDataSize() != 0) {
                        throw new IllegalStateException("read back " + details.getName() + " of "
                            + details.getDataSize() + " bytes");
                    }
                    System.out.println("acked " + (i + 1));
                } catch (Exception e) {
                    failed++;
                    System.out.println("failed " + key + ": " + e);
                }
                System.out.flush();
                if (i + 1 == pauseAt) {
                    System.out.println("paused");
                    System.out.flush();
                    stdin.readLine();
                }
            }
        }
        System.out.println("done ok=" + (count - failed) + " failed=" + failed);
        System.exit(failed == 0 ? 0 : 1);
    }
}
