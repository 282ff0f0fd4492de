/*
 * SaslIpcClient: a Hadoop IPC client written against the JDK alone, to check
 * that a server unwraps what a Java client wraps. It speaks the handshake
 * itself (preamble, NEGOTIATE, INITIATE/CHALLENGE/RESPONSE with the JDK's
 * GSSAPI SaslClient and the QOP asked for), then sends the connection context
 * and its calls WRAPPED, as Hadoop's SaslRpcClient does once a security layer
 * is negotiated, and unwraps the replies. Protobuf is written by hand: only
 * the few fields used here.
 *
 *   java -Djavax.security.auth.useSubjectCredsOnly=false SaslIpcClient \
 *        HOST PORT QOP USER PATH LISTDIR
 *
 * Prints "qop <negotiated>", "fileinfo PATH type=N owner=O", "listing DIR
 * entries=N bytes=B frames=F" and exits 0, or prints the failure and exits 1.
 */
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.security.sasl.Sasl;
import javax.security.sasl.SaslClient;

public class SaslIpcClient {
    static final String PROTOCOL = "org.apache.hadoop.hdfs.protocol.ClientProtocol";
    static final int SASL_ID = -33, WRAP = 5, NEGOTIATE = 1, INITIATE = 2, CHALLENGE = 3, RESPONSE = 4, SUCCESS = 0;

    /* ---- protobuf by hand ---- */
    static void varint(ByteArrayOutputStream o, long v) {
        while ((v & ~0x7FL) != 0) {
            o.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        o.write((int) v);
    }
    static void fieldVarint(ByteArrayOutputStream o, int num, long v) { varint(o, (long) num << 3); varint(o, v); }
    static void fieldBytes(ByteArrayOutputStream o, int num, byte[] b) {
        varint(o, ((long) num << 3) | 2);
        varint(o, b.length);
        o.write(b, 0, b.length);
    }
    static void fieldString(ByteArrayOutputStream o, int num, String s) {
        fieldBytes(o, num, s.getBytes(StandardCharsets.UTF_8));
    }
    static long zigzag(int v) { return ((v << 1) ^ (v >> 31)) & 0xFFFFFFFFL; }

    /* A parsed message: field number -> values (Long or byte[]). */
    static Map<Integer, List<Object>> parse(byte[] b, int off, int end) throws IOException {
        Map<Integer, List<Object>> m = new HashMap<>();
        int[] p = {off};
        while (p[0] < end) {
            long tag = readVarint(b, p, end);
            int num = (int) (tag >>> 3), type = (int) (tag & 7);
            Object v;
            if (type == 0) {
                v = readVarint(b, p, end);
            } else if (type == 2) {
                int l = (int) readVarint(b, p, end);
                if (l < 0 || p[0] + l > end) throw new IOException("bad length");
                byte[] x = new byte[l];
                System.arraycopy(b, p[0], x, 0, l);
                p[0] += l;
                v = x;
            } else {
                throw new IOException("wire type " + type);
            }
            m.computeIfAbsent(num, k -> new ArrayList<>()).add(v);
        }
        return m;
    }
    static long readVarint(byte[] b, int[] p, int end) throws IOException {
        long v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p[0] >= end) throw new IOException("truncated varint");
            int c = b[p[0]++] & 0xFF;
            v |= (long) (c & 0x7F) << shift;
            if ((c & 0x80) == 0) return v;
        }
        throw new IOException("long varint");
    }
    static long num(Map<Integer, List<Object>> m, int f, long def) {
        return m.containsKey(f) ? (Long) m.get(f).get(0) : def;
    }
    static byte[] bytes(Map<Integer, List<Object>> m, int f) {
        return m.containsKey(f) ? (byte[]) m.get(f).get(0) : null;
    }
    static String str(Map<Integer, List<Object>> m, int f) {
        byte[] b = bytes(m, f);
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    /* ---- IPC framing ---- */
    static final byte[] CLIENT_ID = new byte[16];

    static byte[] requestHeader(int callId, boolean sasl) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        fieldVarint(o, 1, 2); // RPC_PROTOCOL_BUFFER
        fieldVarint(o, 2, 0); // RPC_FINAL_PACKET
        fieldVarint(o, 3, zigzag(callId));
        fieldBytes(o, 4, sasl ? new byte[0] : CLIENT_ID);
        fieldVarint(o, 5, zigzag(sasl || callId < 0 ? -1 : 0));
        return o.toByteArray();
    }
    /* u32 length + varint-delimited parts: one packet. */
    static byte[] packet(byte[]... parts) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            varint(body, p.length);
            body.write(p, 0, p.length);
        }
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        int n = body.size();
        o.write(n >>> 24); o.write(n >>> 16); o.write(n >>> 8); o.write(n);
        o.write(body.toByteArray(), 0, n);
        return o.toByteArray();
    }
    static byte[] saslMessage(int state, byte[] token, byte[] auth) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        fieldVarint(o, 2, state);
        if (token != null) fieldBytes(o, 3, token);
        if (auth != null) fieldBytes(o, 4, auth);
        return o.toByteArray();
    }
    /* One frame body from the server: [header fields, message bytes]. */
    static Object[] readFrame(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > (64 << 20)) throw new IOException("frame of " + n + " bytes");
        byte[] b = new byte[n];
        in.readFully(b);
        return splitPacket(b, 0, n);
    }
    static Object[] splitPacket(byte[] b, int off, int end) throws IOException {
        int[] p = {off};
        int hl = (int) readVarint(b, p, end);
        Map<Integer, List<Object>> h = parse(b, p[0], p[0] + hl);
        p[0] += hl;
        byte[] msg = new byte[0];
        if (p[0] < end) {
            int ml = (int) readVarint(b, p, end);
            msg = new byte[ml];
            System.arraycopy(b, p[0], msg, 0, ml);
        }
        return new Object[] {h, msg};
    }

    public static void main(String[] a) throws Exception {
        if (a.length != 6) {
            System.out.println("usage: SaslIpcClient HOST PORT QOP USER PATH LISTDIR");
            System.exit(2);
        }
        try {
            run(a[0], Integer.parseInt(a[1]), a[2], a[3], a[4], a[5]);
        } catch (Exception e) {
            System.out.println("failed: " + e);
            System.exit(1);
        }
    }

    @SuppressWarnings("unchecked")
    static void run(String host, int port, String qop, String user, String path, String listDir) throws Exception {
        new java.security.SecureRandom().nextBytes(CLIENT_ID);
        Socket s = new Socket(host, port);
        s.setSoTimeout(20000);
        DataInputStream in = new DataInputStream(s.getInputStream());
        DataOutputStream out = new DataOutputStream(s.getOutputStream());
        out.write(new byte[] {'h', 'r', 'p', 'c', 9, 0, (byte) 0xDF});
        out.write(packet(requestHeader(SASL_ID, false), saslMessage(NEGOTIATE, null, null)));

        Object[] f = readFrame(in);
        Map<Integer, List<Object>> sm = parse((byte[]) f[1], 0, ((byte[]) f[1]).length);
        byte[] krb = null;
        for (Object o : sm.getOrDefault(4, new ArrayList<>())) {
            Map<Integer, List<Object>> auth = parse((byte[]) o, 0, ((byte[]) o).length);
            if ("KERBEROS".equals(str(auth, 1))) krb = (byte[]) o;
        }
        if (krb == null) throw new IOException("no KERBEROS entry in the NEGOTIATE answer");
        Map<Integer, List<Object>> ka = parse(krb, 0, krb.length);
        Map<String, String> props = new HashMap<>();
        props.put(Sasl.QOP, qop);
        props.put(Sasl.SERVER_AUTH, "true");
        SaslClient sc = Sasl.createSaslClient(new String[] {"GSSAPI"}, null, str(ka, 3), str(ka, 4), props, null);
        byte[] tok = sc.hasInitialResponse() ? sc.evaluateChallenge(new byte[0]) : new byte[0];
        out.write(packet(requestHeader(SASL_ID, false), saslMessage(INITIATE, tok, krb)));
        for (;;) {
            f = readFrame(in);
            Map<Integer, List<Object>> h = (Map<Integer, List<Object>>) f[0];
            if (num(h, 2, -1) != 0) throw new IOException("FATAL: " + str(h, 4) + ": " + str(h, 5));
            Map<Integer, List<Object>> m = parse((byte[]) f[1], 0, ((byte[]) f[1]).length);
            long st = num(m, 2, -1);
            byte[] t = bytes(m, 3);
            if (st == SUCCESS) {
                if (t != null && !sc.isComplete()) sc.evaluateChallenge(t);
                break;
            }
            if (st != CHALLENGE) throw new IOException("SASL state " + st);
            byte[] r = sc.evaluateChallenge(t == null ? new byte[0] : t);
            out.write(packet(requestHeader(SASL_ID, false), saslMessage(RESPONSE, r == null ? new byte[0] : r, null)));
        }
        if (!sc.isComplete()) throw new IOException("SASL not complete after SUCCESS");
        String got = (String) sc.getNegotiatedProperty(Sasl.QOP);
        System.out.println("qop " + got);

        // The connection context, then the calls, each one WRAP frame.
        ByteArrayOutputStream ui = new ByteArrayOutputStream();
        fieldString(ui, 1, user);
        ByteArrayOutputStream ctx = new ByteArrayOutputStream();
        fieldBytes(ctx, 2, ui.toByteArray());
        fieldString(ctx, 3, PROTOCOL);
        sendWrapped(sc, out, packet(requestHeader(-3, false), ctx.toByteArray()));

        ByteArrayOutputStream req = new ByteArrayOutputStream();
        fieldString(req, 1, path);
        sendWrapped(sc, out, packet(requestHeader(0, false), requestHeaderProto("getFileInfo"), req.toByteArray()));
        Object[] r = readWrapped(sc, in, 0);
        Map<Integer, List<Object>> resp = parse((byte[]) r[1], 0, ((byte[]) r[1]).length);
        byte[] fs = bytes(resp, 1);
        if (fs == null) throw new IOException("getFileInfo " + path + ": not found");
        Map<Integer, List<Object>> st = parse(fs, 0, fs.length);
        System.out.println("fileinfo " + path + " type=" + num(st, 1, 0) + " owner=" + str(st, 5));

        ByteArrayOutputStream lr = new ByteArrayOutputStream();
        fieldString(lr, 1, listDir);
        fieldBytes(lr, 2, new byte[0]);
        fieldVarint(lr, 3, 0);
        sendWrapped(sc, out, packet(requestHeader(1, false), requestHeaderProto("getListing"), lr.toByteArray()));
        r = readWrapped(sc, in, 1);
        resp = parse((byte[]) r[1], 0, ((byte[]) r[1]).length);
        byte[] dl = bytes(resp, 1);
        if (dl == null) throw new IOException("getListing " + listDir + ": not found");
        Map<Integer, List<Object>> d = parse(dl, 0, dl.length);
        System.out.println("listing " + listDir + " entries=" + d.getOrDefault(1, new ArrayList<>()).size() +
                           " bytes=" + r[2] + " frames=" + r[3]);
        sc.dispose();
        s.close();
    }

    static byte[] requestHeaderProto(String method) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        fieldString(o, 1, method);
        fieldString(o, 2, PROTOCOL);
        fieldVarint(o, 3, 1);
        return o.toByteArray();
    }

    static void sendWrapped(SaslClient sc, DataOutputStream out, byte[] pkt) throws IOException {
        byte[] tok = sc.wrap(pkt, 0, pkt.length);
        out.write(packet(requestHeader(SASL_ID, true), saslMessage(WRAP, tok, null)));
        out.flush();
    }

    /* The next reply packet, from WRAP frames only. Like Hadoop's
     * WrappedInputStream, the unwrapped bytes are a stream: a server may
     * split a packet over several frames (Cyrus does past the client's
     * maximum buffer, 64 KiB for the JDK). Returns [header, message,
     * packet size, frames read]. */
    static byte[] pending = new byte[0];

    @SuppressWarnings("unchecked")
    static Object[] readWrapped(SaslClient sc, DataInputStream in, int wantId) throws IOException {
        int frames = 0;
        while (pending.length < 4 || pending.length < 4 + be32(pending)) {
            Object[] f = readFrame(in);
            frames++;
            Map<Integer, List<Object>> h = (Map<Integer, List<Object>>) f[0];
            if ((int) num(h, 1, 0) != SASL_ID) throw new IOException("a plain reply where a WRAP frame was due");
            Map<Integer, List<Object>> m = parse((byte[]) f[1], 0, ((byte[]) f[1]).length);
            if (num(m, 2, -1) != WRAP) throw new IOException("SASL state " + num(m, 2, -1) + ", want WRAP");
            byte[] t = bytes(m, 3);
            byte[] u = sc.unwrap(t, 0, t.length);
            byte[] all = new byte[pending.length + u.length];
            System.arraycopy(pending, 0, all, 0, pending.length);
            System.arraycopy(u, 0, all, pending.length, u.length);
            pending = all;
        }
        int n = be32(pending);
        byte[] pkt = new byte[4 + n];
        System.arraycopy(pending, 0, pkt, 0, 4 + n);
        byte[] rest = new byte[pending.length - 4 - n];
        System.arraycopy(pending, 4 + n, rest, 0, rest.length);
        pending = rest;
        Object[] p = splitPacket(pkt, 4, pkt.length);
        Map<Integer, List<Object>> rh = (Map<Integer, List<Object>>) p[0];
        if ((int) num(rh, 1, -1) != wantId) throw new IOException("reply for call " + num(rh, 1, -1));
        if (num(rh, 2, -1) != 0) throw new IOException("error: " + str(rh, 4) + ": " + str(rh, 5));
        return new Object[] {p[0], p[1], pkt.length, frames};
    }

    static int be32(byte[] b) {
        return ((b[0] & 0xFF) << 24) | ((b[1] & 0xFF) << 16) | ((b[2] & 0xFF) << 8) | (b[3] & 0xFF);
    }
}
