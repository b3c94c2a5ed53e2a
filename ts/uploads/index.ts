/** Uploads: multipart/form-data and urlencoded forms, streamed (ts/uploads/). */
export { MultipartReader, FilePart, type FieldPart, type Part } from './multipart.js';
export { readForm, type Form, type FormOptions, type UploadedFile } from './form.js';
export { LIMIT_DEFAULTS, type UploadLimits } from './limits.js';
export { safeFilename } from './filename.js';
