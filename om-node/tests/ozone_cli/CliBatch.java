// Runs Ozone's command-line classes (OzoneShell, OzoneAdmin) one command after another in one
// JVM, so a test pays for a JVM start and Ozone's class loading once, not once per command.
//
// Each command is what `ozone sh ARGS` runs: a new instance of the class and its own
// `execute(String[])` (GenericCli), which parses the arguments, builds its configuration and
// client, and returns the exit code that `run` would pass to System.exit (-1 is 255).
// System.out and System.err are captured per command.
//
// Protocol, on stdin: one command per line, the class name then its arguments, separated by
// NUL characters. On stdout, per command: a line "EXIT <code> <stdout bytes> <stderr bytes>",
// then the two outputs' bytes.

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

public class CliBatch {
  public static void main(String[] ignored) throws Exception {
    PrintStream reply = System.out;
    PrintStream realErr = System.err;
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      String[] fields = line.split("\0", -1);
      String[] args = Arrays.copyOfRange(fields, 1, fields.length);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      PrintStream cmdOut = new PrintStream(out, true, StandardCharsets.UTF_8);
      PrintStream cmdErr = new PrintStream(err, true, StandardCharsets.UTF_8);
      System.setOut(cmdOut);
      System.setErr(cmdErr);
      int code;
      try {
        Object cli = Class.forName(fields[0]).getDeclaredConstructor().newInstance();
        Method execute = cli.getClass().getMethod("execute", String[].class);
        code = (Integer) execute.invoke(cli, (Object) args);
        Object cmd = cli.getClass().getMethod("getCmd").invoke(cli);
        ((java.io.PrintWriter) cmd.getClass().getMethod("getOut").invoke(cmd)).flush();
        ((java.io.PrintWriter) cmd.getClass().getMethod("getErr").invoke(cmd)).flush();
      } catch (Throwable t) {
        t.printStackTrace(cmdErr);
        code = 254; // the runner failed, not the command: the test shows the trace
      } finally {
        System.setOut(reply);
        System.setErr(realErr);
      }
      cmdOut.flush();
      cmdErr.flush();
      byte[] o = out.toByteArray();
      byte[] e = err.toByteArray();
      reply.print("EXIT " + (code & 0xff) + " " + o.length + " " + e.length + "\n");
      reply.write(o);
      reply.write(e);
      reply.flush();
    }
  }
}
