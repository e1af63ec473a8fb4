// Whole-series loading in one request. The gateway's series pixel data resource
// (.../series/{uid}/pixeldata) sends every frame as one multipart part with its frame URL in
// Content-Location; frames go into Cornerstone's image cache as they arrive. One request per
// frame cost a connection slot (6 per host), an access check and an audit row per image.
//
// The `wadors` image loader is wrapped: a frame whose bytes came with the stream is built from
// them; any other (the first image, or a slice scrolled to before the stream reached it) is
// fetched on its own by the DICOM image loader, as before.

import { cache, imageLoader, registerImageLoader } from '@cornerstonejs/core';
import { createImage } from '@cornerstonejs/dicom-image-loader';
import { boundaryOf, readParts } from './multipart.js';

const EXPLICIT_LE = '1.2.840.10008.1.2.1';

/** "<SOP Instance UID>/<frame>" of a frame URL or wadors imageId; null if it is none. */
export function frameKey(url) {
  const match = /\/instances\/([^/]+)\/frames\/(\d+)$/.exec(url || '');
  return match ? `${decodeURIComponent(match[1])}/${match[2]}` : null;
}

function transferSyntaxOf(contentType) {
  const match = /transfer-syntax=([0-9.]+)/.exec(contentType || '');
  return match ? match[1] : EXPLICIT_LE;
}

/**
 * createSeriesStreams({ api, wadors, accept }) -> { loadImage, stream(url, imageIds) }.
 * Call `registerLoader()` once after the DICOM image loader's init.
 */
export function createSeriesStreams({ api, wadors, accept }) {
  const arrived = new Map(); // frame key -> { bytes, transferSyntax }, until the loader takes it

  function loadImage(imageId, options = {}) {
    const key = frameKey(imageId);
    const frame = key && arrived.get(key);
    if (!frame) return wadors.loadImage(imageId, options);
    arrived.delete(key);
    return { promise: createImage(imageId, frame.bytes, frame.transferSyntax, options), cancelFn: undefined };
  }

  /**
   * Stream a series' frames into the cache; resolves to the number of frames received, and
   * rejects when the request fails (the caller then prefetches frame by frame).
   */
  async function stream(url, imageIds, { signal } = {}) {
    const byKey = new Map(imageIds.map((id) => [frameKey(id), id]));
    const response = await api.request(url, { headers: { Accept: accept }, signal });
    const boundary = boundaryOf(response.headers.get('Content-Type'));
    if (!boundary || !response.body) throw new Error('not a multipart response');
    let received = 0;
    for await (const part of readParts(response.body, boundary)) {
      const key = frameKey(part.headers['content-location']);
      const imageId = byKey.get(key);
      if (!imageId) continue;
      received += 1;
      if (cache.getImageLoadObject(imageId)) continue; // already shown or fetched on its own
      arrived.set(key, { bytes: part.body, transferSyntax: transferSyntaxOf(part.headers['content-type']) });
      imageLoader.loadAndCacheImage(imageId).catch(() => {}); // a failure is an IMAGE_LOAD_FAILED event
      arrived.delete(key); // taken by loadImage above, unless a load of it was already running
    }
    return received;
  }

  return {
    loadImage,
    stream,
    registerLoader() { registerImageLoader('wadors', loadImage); },
  };
}
