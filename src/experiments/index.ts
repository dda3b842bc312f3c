// Experiments: the UUID memorisation task, prompt/completion tasks and their batching, accuracy,
// rank analysis of weight updates, the run record (metrics.json) and the report (markdown + HTML
// with Vega-Lite charts). The pipeline that runs the methods (moragrad demo/compare) builds on these.
export { type Example, type Task, type EncodedExample, type TaskBatcherOptions, type TaskBatcherState, sequenceText, taskChars, missingChars, ensureChars, encodeTask, epochOrder, TaskBatcher } from './task.js';
export { makeUuidTask, uuid4, UUID_LENGTH, UUID_CHARS, UUID4_PATTERN, type UuidTask, type UuidTaskOptions, type UuidPair } from './uuid.js';
export { parseJsonlTask, loadJsonlTask, toJsonl, writeJsonlTask, type JsonlTaskOptions } from './jsonl.js';
export {
  charAccuracy,
  exactMatch,
  scoreCompletions,
  cutAtEos,
  generateCompletions,
  evaluateTask,
  type Score,
  type Generator,
  type GenerateCompletionsOptions,
  type TaskEvaluation,
} from './accuracy.js';
export {
  singularValues,
  rankAbove,
  frobeniusNorm,
  stableRank,
  effectiveRank,
  analyzeMatrix,
  analyzeDelta,
  hostWeights,
  isLinearWeight,
  moduleKind,
  layerIndex,
  RANK_THRESHOLD,
  type ModuleRank,
  type HostMatrix,
  type WeightMap,
  type AnalyzeOptions,
} from './rank.js';
export {
  METRICS_VERSION,
  validateMetrics,
  assertValidMetrics,
  metricsToJSON,
  compactJson,
  writeMetrics,
  readMetrics,
  type RunMetrics,
  type ExperimentConfig,
  type Environment,
  type BaseModelSummary,
  type TaskSummary,
  type MethodResult,
  type AdapterKind,
  type LrTrial,
  type AccuracyPoint,
} from './metrics.js';
export { renderPlots, renderSvg, lossChartSpec, accuracyChartSpec, spectraChartSpec, rankChartSpec, methodColors, smooth, logTicks, type Plots } from './plots.js';
export {
  summarize,
  reportTitle,
  budgetComparisons,
  methodStats,
  checkpointSteps,
  finalLoss,
  resultsTable,
  methodsTable,
  rankTable,
  environmentTable,
  fmtLr,
  fmtSec,
  fmtPct,
  fmtCount,
  fmtShare,
  UUID_FORMAT_BASELINE,
  type BudgetComparison,
  type MethodStats,
  type Table,
} from './summary.js';
export { writeReport, formatResultsTable, renderMarkdown, markdownTable, REPORT_FILES, type WriteReportOptions } from './report.js';
export { renderHtml, escapeHtml } from './report-html.js';
export { runSentiment, writeSentimentReport, loadUciSentiment, sentimentTable, scoreLogits, DEFAULT_SENTIMENT, SENTIMENT_METHODS } from './sentiment.js';
