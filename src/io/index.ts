// File formats: safetensors (read/write) and atomic writes.
export {
  encodeSafetensors,
  decodeSafetensors,
  parseHeader,
  saveSafetensors,
  loadSafetensors,
  readSafetensorsHeader,
  decodeTensorBytes,
  toF16,
  fromF16,
  toBF16,
  fromBF16,
  DTYPE_SIZE,
  MAX_HEADER_BYTES,
  type SafetensorsDType,
  type WritableDType,
  type TensorInfo,
  type SafetensorsHeader,
  type HostTensor,
  type EncodeEntry,
  type SaveOptions,
  type LoadOptions,
} from './safetensors.js';
export { writeFileAtomic } from './atomic.js';
export { loadTfjsWeights, readTfjsManifest, parseTfjsManifest, decodeTfjsWeights, checkExpected } from './tfjs.js';
