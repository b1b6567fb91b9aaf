/*
 * The JVM side of multilang in the format each Python component was started with: MessagePack
 * if its command says `-s msgpack`, else JSON (Storm's own JsonSerializer, pystorm's default).
 *
 * squall.storm.topology.Topology names it when it cannot see the components' serializer yet:
 * `sparse submit` reads a topology's config before it gives the components config.json's
 * `-s <serializer>`, so the format is decided here, on the worker, from the submitted topology
 * (a shell component's script). A JSON component that reads a fused chain's streams gets
 * FusedJsonSerializer, which gives it the members' own names (FusedNames). Under Flux (`sparse run`) the components are Java objects,
 * not shell components: the topology's config then names MsgpackSerializer itself, since
 * `sparse run` gives the `-s` first; this class falls back to JSON there.
 */
package squall.storm;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.List;
import java.util.Map;
import org.apache.storm.generated.Bolt;
import org.apache.storm.generated.ComponentObject;
import org.apache.storm.generated.SpoutSpec;
import org.apache.storm.generated.StormTopology;
import org.apache.storm.multilang.BoltMsg;
import org.apache.storm.multilang.ISerializer;
import org.apache.storm.multilang.JsonSerializer;
import org.apache.storm.multilang.NoOutputException;
import org.apache.storm.multilang.ShellMsg;
import org.apache.storm.multilang.SpoutMsg;
import org.apache.storm.task.TopologyContext;

public class MultilangSerializer implements ISerializer {
    private static final long serialVersionUID = 1L;
    private transient OutputStream processIn;
    private transient InputStream processOut;
    private transient ISerializer delegate;

    @Override
    public void initialize(OutputStream processIn, InputStream processOut) {
        this.processIn = processIn;
        this.processOut = processOut;
    }

    @Override
    public Number connect(Map<String, Object> conf, TopologyContext context)
        throws IOException, NoOutputException {
        if (speaksMsgpack(context)) {
            delegate = new MsgpackSerializer();
        } else if (FusedNames.readsFusedStreams(context)) {
            delegate = new FusedJsonSerializer();  // gives the fused members' names back
        } else {
            delegate = new JsonSerializer();
        }
        delegate.initialize(processIn, processOut);
        return delegate.connect(conf, context);
    }

    /** Whether this component's Python process was started with `-s msgpack`. */
    static boolean speaksMsgpack(TopologyContext context) {
        StormTopology topology = context.getRawTopology();
        String id = context.getThisComponentId();
        ComponentObject object = null;
        Bolt bolt = topology.get_bolts() == null ? null : topology.get_bolts().get(id);
        SpoutSpec spout = topology.get_spouts() == null ? null : topology.get_spouts().get(id);
        if (bolt != null) {
            object = bolt.get_bolt_object();
        } else if (spout != null) {
            object = spout.get_spout_object();
        }
        if (object == null || !object.is_set_shell()) {
            return false;
        }
        String script = object.get_shell().get_script();
        String[] words = script == null ? new String[0] : script.trim().split("\\s+");
        return words.length > 1 && words[0].equals("-s") && words[1].equals("msgpack");
    }

    @Override
    public void writeBoltMsg(BoltMsg msg) throws IOException {
        delegate.writeBoltMsg(msg);
    }

    @Override
    public void writeSpoutMsg(SpoutMsg msg) throws IOException {
        delegate.writeSpoutMsg(msg);
    }

    @Override
    public void writeTaskIds(List<Integer> taskIds) throws IOException {
        delegate.writeTaskIds(taskIds);
    }

    @Override
    public ShellMsg readShellMsg() throws IOException, NoOutputException {
        return delegate.readShellMsg();
    }
}
