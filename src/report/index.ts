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
export { renderTokenView, tokenView } from './token.js';
export type { TokenView } from './token.js';
export { COVERAGE_STATES, CoverageGrid, columnSecondsFor, columnState, MAX_SLOTS_GROUPED, MAX_TIMELINE_COLUMNS } from './coverage.js';
export type { CoverageState, StateCounts, Timeline, TimelineRow, TimelineRun } from './coverage.js';
export { MAX_FAILED_ROWS, renderHtmlReport } from './html-report.js';
export type { HtmlReportInput, Throughput } from './html-report.js';
export { escapeHtml } from './html.js';
export { MAX_THROUGHPUT_BARS, readHtmlReport } from './read-html-report.js';
export type { ReadHtmlReportOptions } from './read-html-report.js';
export { formatArchiveFailure, formatArchiveProgress, formatBytes, renderArchiveListing, renderArchiveReport } from './archive-text.js';
export { ScanSummary, renderScanText } from './scan.js';
export type { DataRun, ScanCameraRow, ScanReport, ScannedSlotInput } from './scan.js';
