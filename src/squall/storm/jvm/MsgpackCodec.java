/*
 * MessagePack (https://github.com/msgpack/msgpack/blob/master/spec.md) for the values multilang
 * carries: nil, booleans, integers, floats, strings, binary, arrays and maps (no extension
 * types: pystorm never sends them). Written here rather than taken from msgpack-core so that
 * squall.storm.MsgpackSerializer needs no library: `sparse submit` ships a plain jar (no
 * dependencies inside), and the class must load on any worker that jar reaches.
 */
package squall.storm;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

final class MsgpackCodec {
    private MsgpackCodec() {}

    static void write(DataOutputStream out, Object value) throws IOException {
        if (value == null) {
            out.writeByte(0xc0);
        } else if (value instanceof String) {
            writeString(out, (String) value);
        } else if (value instanceof Long || value instanceof Integer || value instanceof Short
                   || value instanceof Byte) {
            writeLong(out, ((Number) value).longValue());
        } else if (value instanceof Double || value instanceof Float) {
            out.writeByte(0xcb);
            out.writeDouble(((Number) value).doubleValue());
        } else if (value instanceof Boolean) {
            out.writeByte((Boolean) value ? 0xc3 : 0xc2);
        } else if (value instanceof Map) {
            Map<?, ?> map = (Map<?, ?>) value;
            writeHeader(out, map.size(), 0x80, 16, 0xde, 0xdf);
            for (Map.Entry<?, ?> e : map.entrySet()) {
                write(out, e.getKey());
                write(out, e.getValue());
            }
        } else if (value instanceof List) {
            List<?> list = (List<?>) value;
            writeHeader(out, list.size(), 0x90, 16, 0xdc, 0xdd);
            for (Object item : list) {
                write(out, item);
            }
        } else if (value instanceof byte[]) {
            byte[] bytes = (byte[]) value;
            if (bytes.length < 256) {
                out.writeByte(0xc4);
                out.writeByte(bytes.length);
            } else if (bytes.length < 65536) {
                out.writeByte(0xc5);
                out.writeShort(bytes.length);
            } else {
                out.writeByte(0xc6);
                out.writeInt(bytes.length);
            }
            out.write(bytes);
        } else if (value instanceof Object[]) {
            write(out, Arrays.asList((Object[]) value));
        } else if (value instanceof Number) {
            out.writeByte(0xcb);
            out.writeDouble(((Number) value).doubleValue());
        } else {
            writeString(out, value.toString());
        }
    }

    private static void writeHeader(DataOutputStream out, int size, int fix, int fixLimit,
                                    int code16, int code32) throws IOException {
        if (size < fixLimit) {
            out.writeByte(fix | size);
        } else if (size < 65536) {
            out.writeByte(code16);
            out.writeShort(size);
        } else {
            out.writeByte(code32);
            out.writeInt(size);
        }
    }

    private static void writeString(DataOutputStream out, String text) throws IOException {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int n = bytes.length;
        if (n < 32) {
            out.writeByte(0xa0 | n);
        } else if (n < 256) {
            out.writeByte(0xd9);
            out.writeByte(n);
        } else if (n < 65536) {
            out.writeByte(0xda);
            out.writeShort(n);
        } else {
            out.writeByte(0xdb);
            out.writeInt(n);
        }
        out.write(bytes);
    }

    private static void writeLong(DataOutputStream out, long v) throws IOException {
        if (v >= 0) {
            if (v < 128) {
                out.writeByte((int) v);
            } else if (v < 256) {
                out.writeByte(0xcc);
                out.writeByte((int) v);
            } else if (v < 65536) {
                out.writeByte(0xcd);
                out.writeShort((int) v);
            } else if (v < (1L << 32)) {
                out.writeByte(0xce);
                out.writeInt((int) v);
            } else {
                out.writeByte(0xcf);
                out.writeLong(v);
            }
        } else if (v >= -32) {
            out.writeByte((int) v);  // negative fixint: 111xxxxx
        } else if (v >= Byte.MIN_VALUE) {
            out.writeByte(0xd0);
            out.writeByte((int) v);
        } else if (v >= Short.MIN_VALUE) {
            out.writeByte(0xd1);
            out.writeShort((int) v);
        } else if (v >= Integer.MIN_VALUE) {
            out.writeByte(0xd2);
            out.writeInt((int) v);
        } else {
            out.writeByte(0xd3);
            out.writeLong(v);
        }
    }

    /** One value; EOFException at the end of the stream, also within a value. */
    static Object read(DataInputStream in) throws IOException {
        int b = in.readUnsignedByte();
        if (b <= 0x7f) {
            return (long) b;
        } else if (b <= 0x8f) {
            return readMap(in, b & 0x0f);
        } else if (b <= 0x9f) {
            return readArray(in, b & 0x0f);
        } else if (b <= 0xbf) {
            return readString(in, b & 0x1f);
        } else if (b >= 0xe0) {
            return (long) (byte) b;
        }
        switch (b) {
            case 0xc0: return null;
            case 0xc2: return Boolean.FALSE;
            case 0xc3: return Boolean.TRUE;
            case 0xc4: return readBytes(in, in.readUnsignedByte());
            case 0xc5: return readBytes(in, in.readUnsignedShort());
            case 0xc6: return readBytes(in, length(in.readInt()));
            case 0xca: return (double) in.readFloat();
            case 0xcb: return in.readDouble();
            case 0xcc: return (long) in.readUnsignedByte();
            case 0xcd: return (long) in.readUnsignedShort();
            case 0xce: return in.readInt() & 0xffffffffL;
            case 0xcf: return in.readLong();  // above Long.MAX_VALUE: Storm has no such type
            case 0xd0: return (long) in.readByte();
            case 0xd1: return (long) in.readShort();
            case 0xd2: return (long) in.readInt();
            case 0xd3: return in.readLong();
            case 0xd9: return readString(in, in.readUnsignedByte());
            case 0xda: return readString(in, in.readUnsignedShort());
            case 0xdb: return readString(in, length(in.readInt()));
            case 0xdc: return readArray(in, in.readUnsignedShort());
            case 0xdd: return readArray(in, length(in.readInt()));
            case 0xde: return readMap(in, in.readUnsignedShort());
            case 0xdf: return readMap(in, length(in.readInt()));
            default:
                throw new IOException(String.format(
                    "multilang (msgpack): type byte 0x%02x is an extension or unused type; "
                    + "pystorm sends nil, bool, int, float, str, bin, array and map only", b));
        }
    }

    private static int length(int n) throws IOException {
        if (n < 0) {
            throw new IOException("multilang (msgpack): a length above 2^31 (" + (n & 0xffffffffL)
                                  + ") cannot be read");
        }
        return n;
    }

    private static byte[] readBytes(DataInputStream in, int n) throws IOException {
        byte[] bytes = new byte[n];
        in.readFully(bytes);
        return bytes;
    }

    private static String readString(DataInputStream in, int n) throws IOException {
        return new String(readBytes(in, n), StandardCharsets.UTF_8);
    }

    private static List<Object> readArray(DataInputStream in, int n) throws IOException {
        List<Object> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(read(in));
        }
        return out;
    }

    private static Map<Object, Object> readMap(DataInputStream in, int n) throws IOException {
        Map<Object, Object> out = new HashMap<>(n * 2);
        for (int i = 0; i < n; i++) {
            Object key = read(in);
            out.put(key, read(in));
        }
        return out;
    }
}
