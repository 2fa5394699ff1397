export { MIN_WATCH_SECONDS, STATUS_DEFAULTS, normalizeStatusOptions } from './options.js';
export type { StatusOptions, StatusOptionsInput } from './options.js';
export { buildPlanPreview, renderPlanOutcome, renderPlanPreview } from './plan-text.js';
export type { PlanPreview } from './plan-text.js';
export { STATUS_CUTS, buildStatusReport, readStatusReport } from './status.js';
export type {
  CameraRow,
  ClipCounts,
  FailedShard,
  HourRow,
  ReleaseNotice,
  ShardCounts,
  ShardRow,
  StatusCut,
  StatusInput,
  StatusReport,
  VehicleRow,
} from './status.js';
export { renderFailedShards, renderStatusText } from './status-text.js';
export { plural } from './format.js';
export { renderTable } from './table.js';
export type { Column } from './table.js';
export { ScanSummary, renderScanText } from './scan.js';
export type { DataRun, ScanCameraRow, ScanReport, ScannedSlotInput } from './scan.js';
