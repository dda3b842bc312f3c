// Experiments: the UUID memorisation task, prompt/completion tasks and their batching, accuracy,
// rank analysis of weight updates, the run record (metrics.json) and the report (markdown + HTML
// with Vega-Lite charts), and the pipeline that runs the methods on them (`runExperiment`: moragrad
// demo/compare/finetune; `runMethod`: one method on one seed).
export {
  type Example,
  type Task,
  type EncodedExample,
  type TaskBatcherOptions,
  type TaskBatcherState,
  sequenceText,
  taskChars,
  missingChars,
  ensureChars,
  encodeTask,
  epochOrder,
  TaskBatcher,
} from './task.js';
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
  metricsToJSON,
  compactJson,
  type RunMetrics,
  type ExperimentConfig,
  type Environment,
  type BaseModelSummary,
  type TaskSummary,
  type MethodResult,
  type MoraShape,
  type FormatStageSummary,
  type AdapterKind,
  type LrTrial,
  type AccuracyPoint,
} from './metrics.js';
export { validateMetrics, assertValidMetrics, writeMetrics, readMetrics } from './metrics-file.js';
export {
  renderPlots,
  renderSvg,
  lossChartSpec,
  accuracyChartSpec,
  spectraChartSpec,
  rankChartSpec,
  methodColors,
  smooth,
  logTicks,
  type Plots,
} from './plots.js';
export {
  summarize,
  reportTitle,
  orderingBySeed,
  checkpointSteps,
  resultsTable,
  seedsTable,
  sweepTable,
  methodsTable,
  rankTable,
  capacityTable,
  mechanismTable,
  paperTable,
  environmentTable,
  UUID_FORMAT_BASELINE,
  UUID_FORMAT_LOSS,
  PAPER_UUID,
  type Table,
} from './summary.js';
export { fmtLr, fmtSec, fmtPct, fmtPctSd, fmtCount, fmtShare, fmtRHat } from './formatters.js';
export {
  groupMethods,
  groupStats,
  budgetPairs,
  taskSizes,
  seedsOf,
  lastPoint,
  tailLoss,
  type MethodGroup,
  type GroupStats,
  type BudgetPair,
} from './aggregate.js';
export { mean, sampleSd, meanSd, seriesMeanSd, type MeanSd } from './stats.js';
export { bracketedSweep, bestTrial, type SweepTrial, type SweepOutcome } from './sweep.js';
export { runExperiment, validateSpec, DEMO, type ExperimentSpec, type ExperimentCallbacks } from './demo.js';
export { runMethod, type MethodSpec, type RunMethodOptions, type FinetuneCallbacks } from './finetune.js';
export {
  runFormatStage,
  formatTask,
  formatSeed,
  assertDisjoint,
  DEFAULT_FORMAT_STAGE,
  type FormatStageConfig,
  type FormatStageResult,
} from './format.js';
export {
  runMechanism,
  loraFloor,
  moraFloor,
  moraBasis,
  DEFAULT_MECHANISM,
  type MechanismConfig,
  type MechanismResult,
  type FloorPoint,
  type TrainedFit,
} from './mechanism.js';
export { writeReport, formatResultsTable, renderMarkdown, markdownTable, REPORT_FILES, type WriteReportOptions } from './report.js';
export { renderHtml, escapeHtml } from './report-html.js';
export {
  runSentiment,
  writeSentimentReport,
  loadUciSentiment,
  sentimentTable,
  scoreLogits,
  DEFAULT_SENTIMENT,
  SENTIMENT_METHODS,
} from './sentiment/index.js';
