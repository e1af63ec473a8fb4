// DICOMweb for the reader: QIDO series list, WADO-RS series metadata -> Cornerstone imageIds,
// thumbnails. Metadata is handed to the image loader's wadors metadata manager.

const TAG = {
  SeriesInstanceUID: '0020000E', SeriesNumber: '00200011', SeriesDescription: '0008103E',
  Modality: '00080060', NumberOfSeriesRelatedInstances: '00201209', SOPInstanceUID: '00080018',
  InstanceNumber: '00200013', NumberOfFrames: '00280008', ImagePositionPatient: '00200032',
  ImageOrientationPatient: '00200037', SOPClassUID: '00080016', BodyPartExamined: '00180015',
  PatientName: '00100010', PatientID: '00100020', StudyDate: '00080020',
  StudyDescription: '00081030', WindowCenter: '00281050', WindowWidth: '00281051',
  Rows: '00280010', FrameOfReferenceUID: '00200052', StudyInstanceUID: '0020000D',
  ModalitiesInStudy: '00080061', NumberOfStudyRelatedInstances: '00201208',
  AccessionNumber: '00080050',
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
      studyUID,
      uid: value(row, 'SeriesInstanceUID'),
      number: Number(value(row, 'SeriesNumber') ?? 0),
      description: value(row, 'SeriesDescription') ?? '',
      modality: value(row, 'Modality') ?? '',
      count: Number(value(row, 'NumberOfSeriesRelatedInstances') ?? 0),
    }))
    .filter((s) => !['SR', 'DOC', 'KO', 'PR'].includes(s.modality))
    .sort((a, b) => a.number - b.number);
}

/** The patient's studies (QIDO-RS by Patient ID), newest first. */
export async function patientStudies(api, patientId) {
  const q = new URLSearchParams({ PatientID: patientId, includefield: 'StudyDescription' });
  const rows = await api.json(`/dicomweb/studies?${q}`, { headers: { Accept: 'application/dicom+json' } });
  return (rows || [])
    .map((row) => ({
      uid: value(row, 'StudyInstanceUID'),
      date: value(row, 'StudyDate') ?? '',
      description: value(row, 'StudyDescription') ?? '',
      modalities: values(row, 'ModalitiesInStudy').join('/'),
      count: Number(value(row, 'NumberOfStudyRelatedInstances') ?? 0),
    }))
    .sort((a, b) => b.date.localeCompare(a.date));
}

/** The slice normal (row x column direction) of an instance, or null without orientation. */
function sliceNormal(instance) {
  const iop = values(instance, 'ImageOrientationPatient').map(Number);
  if (iop.length !== 6) return null;
  return [
    iop[1] * iop[5] - iop[2] * iop[4],
    iop[2] * iop[3] - iop[0] * iop[5],
    iop[0] * iop[4] - iop[1] * iop[3],
  ];
}

const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

function sliceKey(instance) {
  const ipp = values(instance, 'ImagePositionPatient').map(Number);
  const normal = sliceNormal(instance);
  // Position along the slice normal; the instance number when there is no geometry.
  if (ipp.length === 3 && normal) return dot(ipp, normal);
  return Number(value(instance, 'InstanceNumber') ?? 0);
}

/**
 * The geometry linked scrolling and MPR need: frame of reference, the normal of the first
 * slice, and each image's position (null when an image has no position or orientation).
 */
function seriesGeometry(images) {
  const first = images[0];
  const normal = first ? sliceNormal(first) : null;
  const positions = images.map((i) => {
    const ipp = values(i, 'ImagePositionPatient').map(Number);
    return ipp.length === 3 ? ipp : null;
  });
  const parallel = Boolean(normal) && images.every((i) => {
    const n = sliceNormal(i);
    return n && Math.abs(dot(n, normal)) > 0.999;
  });
  return {
    frameOfReference: value(first, 'FrameOfReferenceUID') ?? null,
    normal: parallel && positions.every(Boolean) ? normal : null,
    positions,
  };
}

/** Index of the slice of `geometry` nearest to the world point `point` (along its normal). */
export function nearestSlice(geometry, point) {
  const target = dot(point, geometry.normal);
  let best = 0;
  let bestDistance = Infinity;
  geometry.positions.forEach((p, index) => {
    const distance = Math.abs(dot(p, geometry.normal) - target);
    if (distance < bestDistance) { best = index; bestDistance = distance; }
  });
  return best;
}

/**
 * Series metadata (WADO-RS) -> { imageIds, byImageId, geometry } in slice order, metadata
 * registered with the loader so the first frame can render before the others arrive.
 */
export async function seriesImageIds(api, wadors, studyUID, seriesUID, origin) {
  const url = `${base(studyUID)}/series/${encodeURIComponent(seriesUID)}/metadata`;
  const instances = await api.json(url, { headers: { Accept: 'application/dicom+json' } });
  const images = instances.filter((i) => value(i, 'Rows') !== undefined);
  images.sort((a, b) => sliceKey(a) - sliceKey(b));
  const imageIds = [];
  const byImageId = new Map();
  const frameImages = [];
  for (const instance of images) {
    const sop = value(instance, 'SOPInstanceUID');
    const frames = Number(value(instance, 'NumberOfFrames') ?? 1) || 1;
    for (let frame = 1; frame <= frames; frame += 1) {
      const imageId = `wadors:${origin}${base(studyUID)}/series/${encodeURIComponent(seriesUID)}`
        + `/instances/${encodeURIComponent(sop)}/frames/${frame}`;
      wadors.metaDataManager.add(imageId, instance);
      imageIds.push(imageId);
      byImageId.set(imageId, instance);
      frameImages.push(instance);
    }
  }
  // A multi-frame image's frames share its one position: no slice geometry to link or reformat.
  const geometry = seriesGeometry(frameImages.length === images.length ? frameImages : []);
  return { imageIds, byImageId, geometry };
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
