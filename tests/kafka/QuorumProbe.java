// Kafka's own Admin client asking a KRaft controller for the quorum's status, the call
// `kafka-metadata-quorum --bootstrap-controller HOST:PORT describe --status` makes (that tool's
// jar is not on the provisioned classpath; kafka-clients is). Run as a single source file:
//   java -cp '.runtime/kafka/lib/*' QuorumProbe.java HOST:PORT [CLIENT.properties]
// Prints "leader <id> voters <ids>" and exits 0, or prints the error and exits 1.
import java.io.FileReader;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.QuorumInfo;

public class QuorumProbe {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        if (args.length > 1) {
            try (FileReader in = new FileReader(args[1])) {
                props.load(in);
            }
        }
        props.put("bootstrap.controllers", args[0]);
        props.putIfAbsent("request.timeout.ms", "5000");
        props.putIfAbsent("default.api.timeout.ms", "10000");
        int code = 0;
        try (Admin admin = Admin.create(props)) {
            QuorumInfo info = admin.describeMetadataQuorum().quorumInfo().get(20, TimeUnit.SECONDS);
            StringBuilder voters = new StringBuilder();
            for (QuorumInfo.ReplicaState voter : info.voters()) {
                voters.append(voters.length() == 0 ? "" : ",").append(voter.replicaId());
            }
            System.out.println("leader " + info.leaderId() + " voters " + voters);
        } catch (Exception e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            System.out.println("refused: " + cause.getClass().getSimpleName() + ": " + cause.getMessage());
            code = 1;
        }
        System.exit(code);
    }
}
