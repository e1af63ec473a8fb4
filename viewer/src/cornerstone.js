// The only module that initialises Cornerstone3D, its tools and the DICOM image loader.
//
// Frames are requested uncompressed (Explicit VR Little Endian via the WADO-RS Accept header):
// the server transcodes whatever it stores, so the browser never needs the wasm codecs.
//
// Stacks render on the CPU when WebGL is missing or is itself a software rasteriser (a
// workstation without a GPU driver, headless Chromium): there Cornerstone's CPU path is about
// four times faster (window/level drag 40 fps against 10 with SwiftShader, bench/viewer).
// MPR needs WebGL whatever it runs on and makes its own engine (mpr.js).

import {
  init as coreInit, imageLoadPoolManager, Enums as CoreEnums, setUseCPURendering,
} from '@cornerstonejs/core';
import { init as toolsInit } from '@cornerstonejs/tools';
import { init as loaderInit, wadors } from '@cornerstonejs/dicom-image-loader';
import { createSeriesStreams } from './seriesstream.js';
import { registerTools } from './tools.js';

export const FRAME_ACCEPT =
  'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1';

const SOFTWARE_GL = /swiftshader|llvmpipe|softpipe|software/i;

/** The WebGL 2 renderer's name, or null when the browser has no WebGL 2. */
function webglRenderer() {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return null;
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return name;
}

/**
 * Initialise once per page load; returns { wadors } (its metadata manager takes the series
 * metadata), { streams } (whole-series loading, see seriesstream.js) and { webgl } (MPR needs it).
 */
export function createCornerstone(session, api) {
  let ready = null;
  return function ensureInitialised() {
    ready ??= (async () => {
      coreInit();
      const renderer = webglRenderer();
      setUseCPURendering(!renderer || SOFTWARE_GL.test(renderer));
      toolsInit();
      loaderInit({
        maxWebWorkers: Math.min(2, navigator.hardwareConcurrency || 1),
        beforeSend: () => ({
          Accept: FRAME_ACCEPT,
          ...(session.accessToken ? { Authorization: `Bearer ${session.accessToken}` } : {}),
        }),
      });
      // Prefetch requests must not starve the frame the user is looking at.
      imageLoadPoolManager.setMaxSimultaneousRequests(CoreEnums.RequestType.Interaction, 6);
      registerTools();
      const streams = createSeriesStreams({ api, wadors, accept: FRAME_ACCEPT });
      streams.registerLoader();
      return { wadors, streams, webgl: Boolean(renderer) };
    })();
    return ready;
  };
}
