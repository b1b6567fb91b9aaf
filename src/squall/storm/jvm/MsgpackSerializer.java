/*
 * The JVM side of Storm's multilang protocol in MessagePack, for pystorm's MsgpackSerializer.
 * With "serializer": "msgpack" in config.json, `sparse run` and `sparse submit` start every
 * Python component with `-s msgpack`, and a squall.storm.topology.Topology sets
 * topology.multilang.serializer to this class (`sparse run`) or to MultilangSerializer, which
 * hands over to it (`sparse submit`; docs/storm.md, "MessagePack multilang").
 * project.clj compiles it (and MsgpackCodec, the format itself: no library) into the topology
 * jar, so it reaches local mode and every worker the jar goes to.
 *
 * Storm ships only org.apache.storm.multilang.JsonSerializer (a MessagePack one, STORM-1565,
 * was closed "Won't Fix"), and no MessagePack serializer for Storm 2 is on Maven Central.
 * Messages are one MessagePack map each, no "end" line: what pystorm reads and writes.
 * It mirrors JsonSerializer field by field; the handshake's conf and context go through
 * JSON first, so the Python side sees exactly the maps the JSON protocol would give it.
 */
package squall.storm;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.storm.multilang.BoltMsg;
import org.apache.storm.multilang.ISerializer;
import org.apache.storm.multilang.NoOutputException;
import org.apache.storm.multilang.ShellMsg;
import org.apache.storm.multilang.SpoutMsg;
import org.apache.storm.shade.net.minidev.json.JSONValue;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.utils.Utils;

public class MsgpackSerializer implements ISerializer {
    private static final long serialVersionUID = 1L;
    private transient DataOutputStream out;
    private transient DataInputStream in;

    @Override
    public void initialize(OutputStream processIn, InputStream processOut) {
        out = new DataOutputStream(new BufferedOutputStream(processIn, 1 << 16));
        in = new DataInputStream(new BufferedInputStream(processOut, 1 << 16));
    }

    @Override
    public Number connect(Map<String, Object> conf, TopologyContext context)
        throws IOException, NoOutputException {
        Map<String, Object> setup = new HashMap<>();
        setup.put("pidDir", context.getPIDDir());
        setup.put("conf", conf);
        setup.put("context", context);
        // Through JSON: the Storm config and the context become plain maps, lists and scalars.
        write(FusedNames.restoreSetup(JSONValue.parse(JSONValue.toJSONString(setup))));
        Object reply = read();
        if (!(reply instanceof Map)) {
            throw new IOException("multilang handshake: expected a map with \"pid\", got " + reply);
        }
        return (Number) ((Map<?, ?>) reply).get("pid");
    }

    @Override
    public void writeBoltMsg(BoltMsg msg) throws IOException {
        FusedNames.restore(msg);
        Map<String, Object> map = new HashMap<>(10);
        map.put("id", msg.getId());
        map.put("comp", msg.getComp());
        map.put("stream", msg.getStream());
        map.put("task", msg.getTask());
        map.put("tuple", msg.getTuple());
        write(map);
    }

    @Override
    public void writeSpoutMsg(SpoutMsg msg) throws IOException {
        Map<String, Object> map = new HashMap<>(4);
        map.put("command", msg.getCommand());
        map.put("id", msg.getId());
        write(map);
    }

    @Override
    public void writeTaskIds(List<Integer> taskIds) throws IOException {
        write(taskIds);
    }

    @Override
    public ShellMsg readShellMsg() throws IOException, NoOutputException {
        Object read = read();
        if (!(read instanceof Map)) {
            throw new IOException("multilang: expected a message map, got " + read);
        }
        Map<?, ?> msg = (Map<?, ?>) read;
        ShellMsg shellMsg = new ShellMsg();
        String command = (String) msg.get("command");
        shellMsg.setCommand(command);
        shellMsg.setId(msg.get("id"));
        shellMsg.setMsg((String) msg.get("msg"));
        String stream = (String) msg.get("stream");
        shellMsg.setStream(stream == null ? Utils.DEFAULT_STREAM_ID : stream);
        Object task = msg.get("task");
        shellMsg.setTask(task == null ? 0 : ((Number) task).longValue());
        Object needTaskIds = msg.get("need_task_ids");
        shellMsg.setNeedTaskIds(needTaskIds == null || (Boolean) needTaskIds);
        shellMsg.setTuple((List<Object>) msg.get("tuple"));
        Object anchors = msg.get("anchors");
        if (anchors != null) {
            List<?> list = anchors instanceof List ? (List<?>) anchors : Arrays.asList(anchors);
            for (Object anchor : list) {
                shellMsg.addAnchor(String.valueOf(anchor));
            }
        }
        Object name = msg.get("name");
        shellMsg.setMetricName(name instanceof String ? (String) name : null);
        shellMsg.setMetricParams(msg.get("params"));
        if ("log".equals(command) && msg.get("level") instanceof Number) {
            shellMsg.setLogLevel(((Number) msg.get("level")).intValue());
        }
        return shellMsg;
    }

    // ------------------------------------------------------------------------------------

    protected void write(Object value) throws IOException {
        MsgpackCodec.write(out, value);
        out.flush();
    }

    protected Object read() throws IOException, NoOutputException {
        try {
            return MsgpackCodec.read(in);
        } catch (EOFException e) {
            throw new NoOutputException("Pipe to subprocess seems to be broken! No output read.\n"
                                        + "Serializer Exception:\n" + e);
        }
    }
}
