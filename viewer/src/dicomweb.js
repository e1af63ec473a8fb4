// DICOMweb for the reader: QIDO series list, WADO-RS series metadata -> Cornerstone imageIds,
// thumbnails. Metadata is handed to the image loader's wadors metadata manager.

const TAG = {
  SeriesInstanceUID: '0020000E', SeriesNumber: '00200011', SeriesDescription: '0008103E',
  Modality: '00080060', NumberOfSeriesRelatedInstances: '00201209', SOPInstanceUID: '00080018',
  InstanceNumber: '00200013', NumberOfFrames: '00280008', ImagePositionPatient: '00200032',
  ImageOrientationPatient: '00200037', SOPClassUID: '00080016', BodyPartExamined: '00180015',
  PatientName: '00100010', PatientID: '00100020', StudyDate: '00080020',
  StudyDescription: '00081030', WindowCenter: '00281050', WindowWidth: '00281051',
  Rows: '00280010',
};

export function value(item, keyword) {
  const element = item?.[TAG[keyword] || keyword];
  if (!element?.Value) return undefined;
  const v = element.Value[0];
  if (v && typeof v === 'object' && 'Alphabetic' in v) return v.Alphabetic;
  return v;
}

export function values(item, keyword) {
  return item?.[TAG[keyword] || keyword]?.Value ?? [];
}

const base = (studyUID) => `/dicomweb/studies/${encodeURIComponent(studyUID)}`;

/** The image series of a study (QIDO-RS), numbered order; documents (SR, PDF) left out. */
export async function studySeries(api, studyUID) {
  const rows = await api.json(`${base(studyUID)}/series`, {
    headers: { Accept: 'application/dicom+json' },
  });
  return (rows || [])
    .map((row) => ({
      uid: value(row, 'SeriesInstanceUID'),
      number: Number(value(row, 'SeriesNumber') ?? 0),
      description: value(row, 'SeriesDescription') ?? '',
      modality: value(row, 'Modality') ?? '',
      count: Number(value(row, 'NumberOfSeriesRelatedInstances') ?? 0),
    }))
    .filter((s) => !['SR', 'DOC', 'KO', 'PR'].includes(s.modality))
    .sort((a, b) => a.number - b.number);
}

function sliceKey(instance) {
  const ipp = values(instance, 'ImagePositionPatient').map(Number);
  const iop = values(instance, 'ImageOrientationPatient').map(Number);
  if (ipp.length === 3 && iop.length === 6) {
    // Position along the slice normal (row x column direction).
    const n = [
      iop[1] * iop[5] - iop[2] * iop[4],
      iop[2] * iop[3] - iop[0] * iop[5],
      iop[0] * iop[4] - iop[1] * iop[3],
    ];
    return ipp[0] * n[0] + ipp[1] * n[1] + ipp[2] * n[2];
  }
  return Number(value(instance, 'InstanceNumber') ?? 0);
}

/**
 * Series metadata (WADO-RS) -> { imageIds, instances } in slice order, metadata registered
 * with the loader so the first frame can render before the others arrive.
 */
export async function seriesImageIds(api, wadors, studyUID, seriesUID, origin) {
  const url = `${base(studyUID)}/series/${encodeURIComponent(seriesUID)}/metadata`;
  const instances = await api.json(url, { headers: { Accept: 'application/dicom+json' } });
  const images = instances.filter((i) => value(i, 'Rows') !== undefined);
  images.sort((a, b) => sliceKey(a) - sliceKey(b));
  const imageIds = [];
  const byImageId = new Map();
  for (const instance of images) {
    const sop = value(instance, 'SOPInstanceUID');
    const frames = Number(value(instance, 'NumberOfFrames') ?? 1) || 1;
    for (let frame = 1; frame <= frames; frame += 1) {
      const imageId = `wadors:${origin}${base(studyUID)}/series/${encodeURIComponent(seriesUID)}`
        + `/instances/${encodeURIComponent(sop)}/frames/${frame}`;
      wadors.metaDataManager.add(imageId, instance);
      imageIds.push(imageId);
      byImageId.set(imageId, instance);
    }
  }
  return { imageIds, byImageId };
}

/** An object URL of the series thumbnail (fetched with the bearer token), or null. */
export async function thumbnailUrl(api, studyUID, seriesUID) {
  try {
    const blob = await api.blob(
      `${base(studyUID)}/series/${encodeURIComponent(seriesUID)}/thumbnail?viewport=96,96`,
      { headers: { Accept: 'image/jpeg' } },
    );
    return URL.createObjectURL(blob);
  } catch {
    return null; // a missing thumbnail only leaves the tile blank
  }
}
