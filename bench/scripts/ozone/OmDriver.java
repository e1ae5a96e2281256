// Load and availability driver for Apache Ozone's Ozone Manager, used by omring-bench (our code;
// it calls Ozone's public client API the way freon's omkg/ombg generators do, so it reports
// per-operation latency percentiles, which freon 2.2 does not print).
//
// One long-lived JVM reads commands from stdin and answers each with one line on stdout:
//   load <key|bucket|volume256> <clients> <seconds> <prefix>
//       -> {"ops":N,"errors":N,"secs":S,"p50_ms":X,"p99_ms":Y,"first_error":"...",
//           "windows":[N,...],"window_secs":10}  (successes per whole 10 s window)
//   leader            -> leader <nodeId>          (from the OM service list, asked of the leader)
//   write <name>      -> ok <ms> <attempts>       (creates volume <name>, retrying until it succeeds)
//   transfer <nodeId> -> transferred <ms>         (OzoneManagerProtocol.transferLeadership, as
//                                                  `ozone admin om transfer -n` does)
// Usage: java -cp <ozone jars>:<dir> OmDriver <ozone-site.xml> <service id> <volume> <bucket>
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.hadoop.hdds.client.RatisReplicationConfig;
import org.apache.hadoop.hdds.conf.OzoneConfiguration;
import org.apache.hadoop.hdds.protocol.proto.HddsProtos;
import org.apache.hadoop.ozone.client.BucketArgs;
import org.apache.hadoop.ozone.client.ObjectStore;
import org.apache.hadoop.ozone.client.OzoneClient;
import org.apache.hadoop.ozone.client.OzoneClientFactory;
import org.apache.hadoop.ozone.client.OzoneVolume;
import org.apache.hadoop.ozone.client.VolumeArgs;
import org.apache.hadoop.ozone.om.helpers.BucketLayout;
import org.apache.hadoop.ozone.om.helpers.OmKeyArgs;
import org.apache.hadoop.ozone.om.helpers.OpenKeySession;
import org.apache.hadoop.ozone.om.helpers.ServiceInfo;
import org.apache.hadoop.ozone.om.protocol.OzoneManagerProtocol;

public final class OmDriver {
  private final ObjectStore store;
  private final OzoneManagerProtocol om;
  private final String volume;
  private final String bucket;
  private final String owner;
  private final String value256;

  private OmDriver(OzoneClient client, String volume, String bucket) throws Exception {
    this.store = client.getObjectStore();
    this.om = client.getProxy().getOzoneManagerClient();
    this.volume = volume;
    this.bucket = bucket;
    this.owner = org.apache.hadoop.security.UserGroupInformation.getCurrentUser().getShortUserName();
    // 256 random characters, drawn once, as etcd's benchmark and omring's harness do.
    String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    java.util.Random random = new java.util.Random();
    char[] v = new char[256];
    for (int i = 0; i < v.length; i++) {
      v[i] = alphabet.charAt(random.nextInt(alphabet.length()));
    }
    this.value256 = new String(v);
  }

  public static void main(String[] args) throws Exception {
    OzoneConfiguration conf = new OzoneConfiguration();
    conf.addResource(new org.apache.hadoop.fs.Path(args[0]));
    try (OzoneClient client = OzoneClientFactory.getRpcClient(args[1], conf)) {
      OmDriver d = new OmDriver(client, args[2], args[3]);
      BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
      System.out.println("ready");
      String line;
      while ((line = in.readLine()) != null) {
        String[] w = line.trim().split("\\s+");
        try {
          System.out.println(d.command(w));
        } catch (Exception e) {
          System.out.println("error " + oneLine(e));
        }
        System.out.flush();
      }
    }
  }

  private static String oneLine(Throwable e) {
    String m = e.getClass().getSimpleName() + ": " + e.getMessage();
    return m.replace('\n', ' ').replace('"', '\'');
  }

  private String command(String[] w) throws Exception {
    switch (w[0]) {
      case "setup":
        try { store.createVolume(volume); } catch (Exception e) { /* exists */ }
        // OBJECT_STORE, as omring's bucket: without a layout Ozone 2.2 makes FILE_SYSTEM_OPTIMIZED
        // and resolves and creates a directory per path component of every key (unequal work).
        try {
          store.getVolume(volume).createBucket(bucket,
              BucketArgs.newBuilder().setBucketLayout(BucketLayout.OBJECT_STORE).build());
        } catch (Exception e) { /* exists */ }
        BucketLayout layout = store.getVolume(volume).getBucket(bucket).getBucketLayout();
        return layout == BucketLayout.OBJECT_STORE ? "ok" : "error bucket " + bucket + " is " + layout;
      case "leader":
        for (ServiceInfo s : om.getServiceList()) {
          if (s.getNodeType() == HddsProtos.NodeType.OM && s.getOmRoleInfo() != null
              && "LEADER".equals(s.getOmRoleInfo().getServerRole())) {
            return "leader " + s.getOmRoleInfo().getNodeId();
          }
        }
        return "leader none";
      case "write": {
        long t0 = System.nanoTime();
        int attempts = 0;
        while (true) {
          attempts++;
          try {
            store.createVolume(w[1] + "-" + attempts);
            return "ok " + (System.nanoTime() - t0) / 1_000_000.0 + " " + attempts;
          } catch (Exception e) {
            if (System.nanoTime() - t0 > 120_000_000_000L) {
              return "error gave up after " + attempts + " attempts: " + oneLine(e);
            }
          }
        }
      }
      case "transfer": {
        long t0 = System.nanoTime();
        om.transferLeadership(w[1]);
        return "transferred " + (System.nanoTime() - t0) / 1_000_000.0;
      }
      case "load":
        return load(w[1], Integer.parseInt(w[2]), Double.parseDouble(w[3]), w[4]);
      default:
        return "error unknown command " + w[0];
    }
  }

  private interface Op {
    void run(int worker, long i) throws Exception;
  }

  private Op op(String workload, String prefix) throws Exception {
    switch (workload) {
      case "key": {
        RatisReplicationConfig repl = RatisReplicationConfig.getInstance(HddsProtos.ReplicationFactor.ONE);
        return (worker, i) -> {
          OmKeyArgs args = new OmKeyArgs.Builder().setVolumeName(volume).setBucketName(bucket)
              .setKeyName(prefix + "/w" + worker + "/k" + i).setReplicationConfig(repl)
              .setLocationInfoList(new ArrayList<>()).setOwnerName(owner).build();
          OpenKeySession s = om.openKey(args);
          om.commitKey(args, s.getId());
        };
      }
      case "bucket": {
        OzoneVolume vol = store.getVolume(volume);
        return (worker, i) -> vol.createBucket(prefix + "-w" + worker + "-b" + i);
      }
      case "volume256":
        return (worker, i) -> store.createVolume(prefix + "-w" + worker + "-v" + i,
            VolumeArgs.newBuilder().addMetadata("v", value256).build());
      default:
        throw new IllegalArgumentException("unknown workload " + workload);
    }
  }

  /** Length of the windows successes are counted in, to show whether throughput was flat. */
  private static final long WINDOW_NANOS = 10_000_000_000L;

  private String load(String workload, int clients, double seconds, String prefix) throws Exception {
    Op op = op(workload, prefix);
    long start = System.nanoTime();
    long deadline = start + (long) (seconds * 1e9);
    AtomicLong errors = new AtomicLong();
    AtomicReference<String> firstError = new AtomicReference<>("");
    List<long[]> lat = new ArrayList<>();
    int[] counts = new int[clients];
    // Room for every window up to 30 s past the deadline (a late call is counted where it ends).
    int maxWindows = (int) ((deadline - start + 30_000_000_000L) / WINDOW_NANOS) + 2;
    long[][] windows = new long[clients][maxWindows];
    Thread[] threads = new Thread[clients];
    for (int t = 0; t < clients; t++) {
      final int worker = t;
      final long[][] mine = { new long[1024] };
      final long[] myWindows = windows[t];
      lat.add(null);
      threads[t] = new Thread(() -> {
        long i = 0;
        int n = 0;
        while (System.nanoTime() < deadline) {
          long t0 = System.nanoTime();
          try {
            op.run(worker, i);
            long t1 = System.nanoTime();
            if (n == mine[0].length) mine[0] = Arrays.copyOf(mine[0], n * 2);
            mine[0][n++] = t1 - t0;
            int k = (int) ((t1 - start) / WINDOW_NANOS);
            if (k < myWindows.length) myWindows[k]++;
          } catch (Exception e) {
            errors.incrementAndGet();
            firstError.compareAndSet("", oneLine(e));
          }
          i++;
        }
        synchronized (lat) {
          counts[worker] = n;
          lat.set(worker, mine[0]);
        }
      });
      threads[t].setDaemon(true);
      threads[t].start();
    }
    // A call stuck past the deadline is reported, not waited for forever.
    int stuck = 0;
    for (Thread t : threads) {
      t.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000 + 30_000));
      if (t.isAlive()) stuck++;
    }
    if (stuck > 0) {
      errors.addAndGet(stuck);
      firstError.compareAndSet("", stuck + " clients still inside a call 30 s after the deadline");
    }
    double secs = (System.nanoTime() - start) / 1e9;
    long[] all;
    synchronized (lat) {
      int total = 0;
      for (int c : counts) total += c;
      all = new long[total];
      int k = 0;
      for (int t = 0; t < clients; t++) {
        if (lat.get(t) != null) {
          System.arraycopy(lat.get(t), 0, all, k, counts[t]);
          k += counts[t];
        }
      }
    }
    int total = all.length;
    Arrays.sort(all);
    // The step's own whole windows: calls still running after the deadline add none. A thread
    // still stuck in a call may bump its count meanwhile (a benign race on a reported figure).
    int whole = (int) Math.min(maxWindows, (long) (Math.min(secs, seconds) * 1e9) / WINDOW_NANOS);
    StringBuilder w = new StringBuilder();
    for (int k = 0; k < whole; k++) {
      long sum = 0;
      for (long[] mine : windows) sum += mine[k];
      w.append(k == 0 ? "" : ",").append(sum);
    }
    return String.format("{\"ops\":%d,\"errors\":%d,\"secs\":%.3f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"first_error\":\"%s\","
        + "\"windows\":[%s],\"window_secs\":%d}",
        total, errors.get(), secs, pct(all, 0.50) / 1e6, pct(all, 0.99) / 1e6, firstError.get(), w,
        WINDOW_NANOS / 1_000_000_000L);
  }

  private static double pct(long[] sorted, double p) {
    if (sorted.length == 0) return 0;
    int idx = (int) Math.round((sorted.length - 1) * p);
    return sorted[Math.min(idx, sorted.length - 1)];
  }
}
