// A streaming reader of multipart/related bodies (RFC 2046): parts are handed out as soon as
// their closing delimiter has arrived, so a long response is used while it is still coming.

const CRLF = new Uint8Array([13, 10]);
const DASH = 45;

function indexOf(data, pattern, from, to) {
  const first = pattern[0];
  for (let i = data.indexOf(first, from); i >= 0 && i + pattern.length <= to; i = data.indexOf(first, i + 1)) {
    let k = 1;
    while (k < pattern.length && data[i + k] === pattern[k]) k += 1;
    if (k === pattern.length) return i;
  }
  return -1;
}

/** A byte buffer that grows by doubling and drops consumed bytes from its front. */
function growable() {
  let data = new Uint8Array(1 << 20);
  let length = 0;
  return {
    get data() { return data; },
    get length() { return length; },
    push(chunk) {
      if (length + chunk.length > data.length) {
        const next = new Uint8Array(Math.max(data.length * 2, length + chunk.length));
        next.set(data.subarray(0, length));
        data = next;
      }
      data.set(chunk, length);
      length += chunk.length;
    },
    drop(n) {
      data.copyWithin(0, n, length);
      length -= n;
    },
  };
}

/** The boundary parameter of a multipart Content-Type, or null. */
export function boundaryOf(contentType) {
  const match = /boundary="?([^";]+)"?/i.exec(contentType || '');
  return match ? match[1] : null;
}

function parsePart(raw) {
  const blank = indexOf(raw, new Uint8Array([13, 10, 13, 10]), 0, raw.length);
  const headerEnd = blank < 0 ? 0 : blank;
  const headers = {};
  new TextDecoder().decode(raw.subarray(0, headerEnd)).split('\r\n').forEach((line) => {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  });
  return { headers, body: raw.subarray(blank < 0 ? 0 : blank + 4) };
}

/** async iterator of { headers (lower-case names), body: Uint8Array } from a ReadableStream. */
export async function* readParts(stream, boundary) {
  const delimiter = new TextEncoder().encode(`\r\n--${boundary}`);
  const buffer = growable();
  buffer.push(CRLF); // the opening delimiter has no CRLF of its own in front
  const reader = stream.getReader();
  const fill = async () => {
    const { done, value } = await reader.read();
    if (!done) buffer.push(value);
    return !done;
  };
  let inPart = false;
  let scan = 0;
  try {
    for (;;) {
      const at = indexOf(buffer.data, delimiter, scan, buffer.length);
      if (at < 0 || at + delimiter.length + 2 > buffer.length) {
        scan = at < 0 ? Math.max(0, buffer.length - delimiter.length + 1) : at;
        if (!(await fill())) return; // cut short: what was complete has been handed out
        continue;
      }
      if (inPart) yield parsePart(buffer.data.slice(0, at));
      const after = at + delimiter.length;
      if (buffer.data[after] === DASH && buffer.data[after + 1] === DASH) return; // close delimiter
      let end = indexOf(buffer.data, CRLF, after, buffer.length);
      while (end < 0) {
        if (!(await fill())) return;
        end = indexOf(buffer.data, CRLF, after, buffer.length);
      }
      buffer.drop(end + 2);
      inPart = true;
      scan = 0;
    }
  } finally {
    reader.releaseLock();
  }
}
