// Interface texts in Vietnamese (default) and English. createI18n() returns t(key, params).

const TEXTS = {
  vi: {
    appName: 'Lienthong',
    login: 'Đăng nhập', logout: 'Đăng xuất', username: 'Tên đăng nhập', password: 'Mật khẩu',
    loginFailed: 'Sai tên đăng nhập hoặc mật khẩu',
    worklist: 'Danh sách ca chụp', today: 'Hôm nay', from: 'Từ ngày', to: 'Đến ngày',
    modality: 'Loại máy', status: 'Trạng thái', any: 'Tất cả', patient: 'Bệnh nhân (tên hoặc mã)',
    accession: 'Số phiếu', search: 'Tìm', unread: 'Chưa đọc', draft: 'Nháp', signed: 'Đã ký',
    patientName: 'Họ tên', patientId: 'Mã BN', studyDate: 'Ngày chụp', description: 'Mô tả',
    images: 'Số ảnh', report: 'Kết quả', order: 'Phiếu chỉ định', noStudies: 'Không có ca chụp nào',
    newStudies: 'Có {n} ca mới', lastUpdate: 'Cập nhật lúc {time}',
    forbidden: 'Bạn không có quyền xem trang này',
    back: 'Danh sách', layout: 'Bố cục', presets: 'Cửa sổ', dicomWindow: 'Cửa sổ DICOM',
    windowLevel: 'Cửa sổ/mức', pan: 'Di chuyển', zoom: 'Phóng to', fit: 'Vừa khung',
    invert: 'Đảo màu', rotate: 'Xoay 90°', flipH: 'Lật ngang', flipV: 'Lật dọc', reset: 'Đặt lại',
    length: 'Đo dài', angle: 'Đo góc', ellipse: 'Vùng elip', rectangle: 'Vùng chữ nhật',
    arrow: 'Mũi tên / chú thích', cine: 'Chạy ảnh', tags: 'Thẻ DICOM', help: 'Phím tắt',
    measurements: 'Đo đạc', series: 'Loạt ảnh', loading: 'Đang tải…', close: 'Đóng',
    brain: 'Não', lung: 'Phổi', bone: 'Xương', abdomen: 'Bụng', mediastinum: 'Trung thất',
    findings: 'Mô tả', conclusion: 'Kết luận', template: 'Mẫu kết quả', noTemplate: '— Mẫu —',
    save: 'Lưu nháp', sign: 'Ký kết quả', print: 'In / PDF', amend: 'Điều chỉnh',
    saved: 'Đã lưu nháp lúc {time}', saving: 'Đang lưu…', saveFailed: 'Lưu thất bại: {error}',
    signedBy: 'Đã ký bởi {reader} lúc {time} (phiên bản {version})',
    confirmSign: 'Ký kết quả? Sau khi ký không sửa được nữa.',
    amendReason: 'Lý do điều chỉnh:', history: 'Các phiên bản', version: 'Phiên bản {n}',
    readOnly: 'Chỉ đọc', tagFilter: 'Lọc thẻ…', fps: 'hình/giây',
    slice: 'Ảnh', windowShort: 'W', levelShort: 'L', shortcutsTitle: 'Phím tắt',
    language: 'English', error: 'Lỗi: {error}',
    link: 'Cuộn đồng bộ', priors: 'Ca chụp trước', prior: 'Ca trước', noPriors: 'Không có ca chụp trước',
    mpr: 'MPR', axial: 'Ngang', sagittal: 'Đứng dọc', coronal: 'Đứng ngang', stack: 'Chồng ảnh',
    mprUnavailable: 'Không dựng MPR được: {reason}', mprNoGeometry: 'loạt ảnh không phải khối lát song song',
    mprTooLarge: 'khối ảnh {mb} MB vượt giới hạn bộ nhớ {limit} MB', mprNoWebgl: 'trình duyệt không có WebGL',
    claim: 'Hồ sơ BHYT',
  },
  en: {
    appName: 'Lienthong',
    login: 'Log in', logout: 'Log out', username: 'User name', password: 'Password',
    loginFailed: 'Wrong user name or password',
    worklist: 'Worklist', today: 'Today', from: 'From', to: 'To',
    modality: 'Modality', status: 'Status', any: 'Any', patient: 'Patient (name or ID)',
    accession: 'Accession', search: 'Search', unread: 'Unread', draft: 'Draft', signed: 'Signed',
    patientName: 'Name', patientId: 'Patient ID', studyDate: 'Date', description: 'Description',
    images: 'Images', report: 'Report', order: 'Order', noStudies: 'No studies',
    newStudies: '{n} new studies', lastUpdate: 'Updated at {time}',
    forbidden: 'You are not allowed to see this page',
    back: 'Worklist', layout: 'Layout', presets: 'Window', dicomWindow: 'DICOM window',
    windowLevel: 'Window/level', pan: 'Pan', zoom: 'Zoom', fit: 'Fit',
    invert: 'Invert', rotate: 'Rotate 90°', flipH: 'Flip horizontal', flipV: 'Flip vertical',
    reset: 'Reset', length: 'Length', angle: 'Angle', ellipse: 'Ellipse ROI',
    rectangle: 'Rectangle ROI', arrow: 'Arrow / text', cine: 'Cine', tags: 'DICOM tags',
    help: 'Shortcuts', measurements: 'Measurements', series: 'Series', loading: 'Loading…',
    close: 'Close', brain: 'Brain', lung: 'Lung', bone: 'Bone', abdomen: 'Abdomen',
    mediastinum: 'Mediastinum', findings: 'Findings', conclusion: 'Conclusion',
    template: 'Template', noTemplate: '— Template —', save: 'Save draft', sign: 'Sign',
    print: 'Print / PDF', amend: 'Amend', saved: 'Draft saved at {time}', saving: 'Saving…',
    saveFailed: 'Saving failed: {error}',
    signedBy: 'Signed by {reader} at {time} (version {version})',
    confirmSign: 'Sign the report? It cannot be changed afterwards.',
    amendReason: 'Reason for the amendment:', history: 'Versions', version: 'Version {n}',
    readOnly: 'Read-only', tagFilter: 'Filter tags…', fps: 'fps',
    slice: 'Im', windowShort: 'W', levelShort: 'L', shortcutsTitle: 'Keyboard shortcuts',
    language: 'Tiếng Việt', error: 'Error: {error}',
    link: 'Linked scrolling', priors: 'Prior studies', prior: 'Prior', noPriors: 'No prior studies',
    mpr: 'MPR', axial: 'Axial', sagittal: 'Sagittal', coronal: 'Coronal', stack: 'Stack',
    mprUnavailable: 'MPR is not available: {reason}', mprNoGeometry: 'the series is not a volume of parallel slices',
    mprTooLarge: 'the volume needs {mb} MB, over the {limit} MB memory limit', mprNoWebgl: 'the browser has no WebGL',
    claim: 'Claim',
  },
};

export const LANGUAGES = Object.keys(TEXTS);

/** t(key, params): the text in `lang`, `{name}` placeholders filled from params. */
export function createI18n(lang) {
  const table = TEXTS[lang] || TEXTS.vi;
  const t = (key, params = {}) =>
    (table[key] ?? TEXTS.vi[key] ?? key).replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ''));
  return { lang: TEXTS[lang] ? lang : 'vi', t };
}
