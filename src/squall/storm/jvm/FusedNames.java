/*
 * The names a fused chain of Python bolts hides, given back to the components that read it.
 *
 * `sparse run` and `sparse submit` run consecutive Python bolts as one Storm component when the
 * topology allows (squall.storm.fusion, docs/storm.md "Fused Python bolts"): the component takes
 * the last member's id, and an earlier member's stream that another component reads is declared
 * on it as "<member>~<stream>". Every Python receiver is written to through squall's serializer
 * (MsgpackSerializer, FusedJsonSerializer): it rewrites such a tuple's component and stream to
 * the member's own, and adds the member's streams to the handshake's source->stream->fields, so
 * a receiver sees exactly what it would see unfused (a Java receiver sees the fused names).
 */
package squall.storm;

import java.util.HashMap;
import java.util.Map;
import org.apache.storm.generated.GlobalStreamId;
import org.apache.storm.multilang.BoltMsg;
import org.apache.storm.task.TopologyContext;

public final class FusedNames {
    /** Separates a fused member's id from its stream's in the fused component's stream ids. */
    public static final String SEPARATOR = "~";

    private FusedNames() {
    }

    /** Gives a tuple from "<member>~<stream>" its member's component and stream back. */
    public static void restore(BoltMsg msg) {
        String stream = msg.getStream();
        int cut = stream == null ? -1 : stream.indexOf(SEPARATOR);
        if (cut > 0) {
            msg.setComp(stream.substring(0, cut));
            msg.setStream(stream.substring(cut + SEPARATOR.length()));
        }
    }

    /** Whether this component reads a stream of a fused member (so it needs the names back). */
    public static boolean readsFusedStreams(TopologyContext context) {
        for (GlobalStreamId source : context.getThisSources().keySet()) {
            if (source.get_streamId().contains(SEPARATOR)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The handshake (a plain map, as JSON gives it) with each "<member>~<stream>" of the
     * context's source->stream->fields also listed under the member's own name.
     */
    @SuppressWarnings("unchecked")
    public static Object restoreSetup(Object setup) {
        if (!(setup instanceof Map)) {
            return setup;
        }
        Object context = ((Map<String, Object>) setup).get("context");
        if (!(context instanceof Map)) {
            return setup;
        }
        Object sources = ((Map<String, Object>) context).get("source->stream->fields");
        if (!(sources instanceof Map)) {
            return setup;
        }
        Map<String, Object> bySource = (Map<String, Object>) sources;
        Map<String, Map<String, Object>> restored = new HashMap<>();
        for (Object streams : bySource.values()) {
            if (!(streams instanceof Map)) {
                continue;
            }
            for (Map.Entry<String, Object> entry : ((Map<String, Object>) streams).entrySet()) {
                int cut = entry.getKey().indexOf(SEPARATOR);
                if (cut > 0) {
                    restored.computeIfAbsent(entry.getKey().substring(0, cut), k -> new HashMap<>())
                        .put(entry.getKey().substring(cut + SEPARATOR.length()), entry.getValue());
                }
            }
        }
        for (Map.Entry<String, Map<String, Object>> entry : restored.entrySet()) {
            Object own = bySource.get(entry.getKey());
            if (own instanceof Map) {
                ((Map<String, Object>) own).putAll(entry.getValue());
            } else {
                bySource.put(entry.getKey(), entry.getValue());
            }
        }
        return setup;
    }
}
