// The only module that initialises Cornerstone3D, its tools and the DICOM image loader.
//
// Frames are requested uncompressed (Explicit VR Little Endian via the WADO-RS Accept header):
// the server transcodes whatever it stores, so the browser never needs the wasm codecs.

import { init as coreInit, imageLoadPoolManager, Enums as CoreEnums } from '@cornerstonejs/core';
import { init as toolsInit } from '@cornerstonejs/tools';
import { init as loaderInit, wadors } from '@cornerstonejs/dicom-image-loader';
import { createSeriesStreams } from './seriesstream.js';
import { registerTools } from './tools.js';

export const FRAME_ACCEPT =
  'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1';

/**
 * Initialise once per page load; returns { wadors } (its metadata manager takes the series
 * metadata) and { streams } (whole-series loading, see seriesstream.js).
 */
export function createCornerstone(session, api) {
  let ready = null;
  return function ensureInitialised() {
    ready ??= (async () => {
      coreInit();
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
      return { wadors, streams };
    })();
    return ready;
  };
}
