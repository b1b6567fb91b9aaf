/*
 * Storm's JSON multilang (one JSON document, then a line "end", each way), for a Python
 * component that reads a fused chain's streams: MultilangSerializer picks it then, so that the
 * tuples and the handshake carry the fused members' own names (FusedNames). It is
 * MsgpackSerializer's message handling with JSON framing; Storm's JsonSerializer, used
 * everywhere else, keeps its fields private, so it cannot be extended to do this.
 */
package squall.storm;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import org.apache.storm.multilang.NoOutputException;
import org.apache.storm.shade.net.minidev.json.JSONValue;

public class FusedJsonSerializer extends MsgpackSerializer {
    private static final long serialVersionUID = 1L;
    private transient BufferedWriter writer;
    private transient BufferedReader reader;

    @Override
    public void initialize(OutputStream processIn, InputStream processOut) {
        writer = new BufferedWriter(new OutputStreamWriter(processIn, StandardCharsets.UTF_8));
        reader = new BufferedReader(new InputStreamReader(processOut, StandardCharsets.UTF_8));
    }

    @Override
    protected void write(Object value) throws IOException {
        writer.write(JSONValue.toJSONString(value));
        writer.write("\nend\n");
        writer.flush();
    }

    @Override
    protected Object read() throws IOException, NoOutputException {
        StringBuilder message = new StringBuilder();
        while (true) {
            String line = reader.readLine();
            if (line == null) {
                throw new NoOutputException("Pipe to subprocess seems to be broken! No output read.\n"
                                            + "Read so far: " + message);
            }
            if (line.equals("end")) {
                break;
            }
            message.append(line).append('\n');
        }
        Object parsed = JSONValue.parse(message.toString());
        if (parsed == null) {
            throw new IOException("multilang: not a JSON message: " + message);
        }
        return parsed;
    }
}
