/**
 * L2-regularised logistic regression, fitted by Newton's method (iteratively reweighted least squares),
 * and the precision / recall of a score at thresholds. Pure and deterministic: the same rows give the
 * same coefficients to the last bit, with no random start and no library.
 *
 * Features are standardised (mean 0, standard deviation 1) before fitting, so one penalty suits rules
 * worth 1 point and rules worth 40; the intercept is not penalised. A feature with no spread in the data
 * (a rule that never fired, or always did) cannot be estimated: it is left out and reported as such.
 */

export interface LogisticOptions {
  /** Penalty on the squared standardised coefficients, `lambda / 2 * sum(beta^2)`; 0 is plain maximum likelihood. */
  lambda?: number;
  /** Newton steps at most. */
  maxIterations?: number;
  /** Converged when no coefficient moves more than this in a step. */
  tolerance?: number;
}

export interface LogisticFit {
  /** Per feature: log-odds per unit of the feature; null when the feature had no spread. */
  coefficients: (number | null)[];
  /** Per feature: log-odds per standard deviation of the feature; null likewise. */
  standardized: (number | null)[];
  /** Log-odds at every feature 0. */
  intercept: number;
  means: number[];
  deviations: number[];
  iterations: number;
  converged: boolean;
  /** The penalised log-likelihood at the solution. */
  objective: number;
  lambda: number;
}

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/** log(1 + e^z) without overflow. */
const softplus = (z: number) => (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z)));

/**
 * Solves `A x = b` for a symmetric positive definite `A` (the penalised Hessian) by Gaussian elimination
 * with partial pivoting; a singular system (possible only with lambda 0) throws.
 */
export function solveLinear(matrix: readonly (readonly number[])[], vector: readonly number[]): number[] {
  const size = vector.length;
  const a = matrix.map((row, index) => [...row, vector[index]!]);
  for (let column = 0; column < size; column += 1) {
    let pivot = column;
    for (let row = column + 1; row < size; row += 1) if (Math.abs(a[row]![column]!) > Math.abs(a[pivot]![column]!)) pivot = row;
    if (Math.abs(a[pivot]![column]!) < 1e-12) throw new Error('singular system: the features are collinear (use a penalty, lambda > 0)');
    [a[column], a[pivot]] = [a[pivot]!, a[column]!];
    for (let row = column + 1; row < size; row += 1) {
      const factor = a[row]![column]! / a[column]![column]!;
      if (factor === 0) continue;
      for (let k = column; k <= size; k += 1) a[row]![k]! -= factor * a[column]![k]!;
    }
  }
  const x = new Array<number>(size).fill(0);
  for (let row = size - 1; row >= 0; row -= 1) {
    let sum = a[row]![size]!;
    for (let k = row + 1; k < size; k += 1) sum -= a[row]![k]! * x[k]!;
    x[row] = sum / a[row]![row]!;
  }
  return x;
}

/**
 * Fits `P(y = 1 | x) = sigmoid(intercept + sum(coefficients[j] * x[j]))`.
 * `rows[i]` are the features of sample i, `labels[i]` its outcome (true = 1).
 */
export function fitLogistic(rows: readonly (readonly number[])[], labels: readonly boolean[], options: LogisticOptions = {}): LogisticFit {
  const lambda = options.lambda ?? 1;
  const maxIterations = options.maxIterations ?? 100;
  const tolerance = options.tolerance ?? 1e-10;
  if (rows.length !== labels.length) throw new Error(`expected one label per row, got ${rows.length} rows and ${labels.length} labels`);
  if (rows.length === 0) throw new Error('expected at least one row');
  if (!(lambda >= 0)) throw new Error(`expected lambda >= 0, got ${lambda}`);
  const width = rows[0]!.length;
  if (rows.some((row) => row.length !== width)) throw new Error('expected every row to have the same number of features');
  const n = rows.length;
  const means = Array.from({ length: width }, (_, j) => rows.reduce((sum, row) => sum + row[j]!, 0) / n);
  const deviations = Array.from({ length: width }, (_, j) => Math.sqrt(rows.reduce((sum, row) => sum + (row[j]! - means[j]!) ** 2, 0) / n));
  // Only features with spread are estimable; the design matrix is [1, standardised kept features].
  const kept = deviations.flatMap((deviation, j) => (deviation > 1e-12 ? [j] : []));
  const design = rows.map((row) => [1, ...kept.map((j) => (row[j]! - means[j]!) / deviations[j]!)]);
  const y = labels.map((label) => (label ? 1 : 0));
  const size = kept.length + 1;
  const objectiveAt = (beta: number[]) => {
    let logLikelihood = 0;
    for (let i = 0; i < n; i += 1) {
      const z = design[i]!.reduce((sum, value, k) => sum + value * beta[k]!, 0);
      logLikelihood += y[i]! * z - softplus(z);
    }
    return logLikelihood - (lambda / 2) * beta.slice(1).reduce((sum, value) => sum + value * value, 0);
  };
  let beta = new Array<number>(size).fill(0);
  let objective = objectiveAt(beta);
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations && !converged) {
    iterations += 1;
    const gradient = new Array<number>(size).fill(0);
    const hessian = Array.from({ length: size }, () => new Array<number>(size).fill(0));
    for (let i = 0; i < n; i += 1) {
      const x = design[i]!;
      const p = sigmoid(x.reduce((sum, value, k) => sum + value * beta[k]!, 0));
      const weight = p * (1 - p);
      for (let a = 0; a < size; a += 1) {
        gradient[a]! += (y[i]! - p) * x[a]!;
        for (let b = a; b < size; b += 1) hessian[a]![b]! += weight * x[a]! * x[b]!;
      }
    }
    for (let a = 0; a < size; a += 1) {
      for (let b = 0; b < a; b += 1) hessian[a]![b] = hessian[b]![a]!;
      if (a > 0) {
        gradient[a]! -= lambda * beta[a]!;
        hessian[a]![a]! += lambda;
      }
    }
    const step = solveLinear(hessian, gradient);
    // Newton's step, halved while it lowers the objective (it never should near the optimum; far from it, it can).
    let scale = 1;
    let next = beta.map((value, k) => value + step[k]!);
    let nextObjective = objectiveAt(next);
    while (nextObjective < objective - 1e-12 && scale > 1e-6) {
      scale /= 2;
      next = beta.map((value, k) => value + scale * step[k]!);
      nextObjective = objectiveAt(next);
    }
    converged = Math.max(...step.map((value) => Math.abs(value * scale))) < tolerance;
    beta = next;
    objective = nextObjective;
  }
  const standardized: (number | null)[] = new Array(width).fill(null);
  const coefficients: (number | null)[] = new Array(width).fill(null);
  let intercept = beta[0]!;
  kept.forEach((j, index) => {
    standardized[j] = beta[index + 1]!;
    coefficients[j] = beta[index + 1]! / deviations[j]!;
    intercept -= (beta[index + 1]! * means[j]!) / deviations[j]!;
  });
  return { coefficients, standardized, intercept, means, deviations, iterations, converged, objective, lambda };
}

/** The fitted probability for one row. */
export function predictLogistic(fit: Pick<LogisticFit, 'coefficients' | 'intercept'>, row: readonly number[]): number {
  return sigmoid(fit.coefficients.reduce<number>((sum, coefficient, j) => sum + (coefficient ?? 0) * row[j]!, fit.intercept));
}

/** How well "score >= threshold" picks the positives. */
export interface ThresholdQuality {
  threshold: number;
  /** Samples at or above the threshold. */
  selected: number;
  /** Of those, the positives. */
  truePositives: number;
  /** `truePositives / selected`; null when nothing is selected. */
  precision: number | null;
  /** `truePositives / positives`; null when there are no positives. */
  recall: number | null;
}

export function precisionRecall(samples: readonly { score: number; positive: boolean }[], thresholds: readonly number[]): ThresholdQuality[] {
  const positives = samples.filter((sample) => sample.positive).length;
  return thresholds.map((threshold) => {
    const selected = samples.filter((sample) => sample.score >= threshold);
    const truePositives = selected.filter((sample) => sample.positive).length;
    return {
      threshold,
      selected: selected.length,
      truePositives,
      precision: selected.length > 0 ? truePositives / selected.length : null,
      recall: positives > 0 ? truePositives / positives : null,
    };
  });
}

/** Penalties tried by {@link chooseLambda}: from nearly none to strong shrinkage, by factors of about 3. */
export const lambdaGrid = [0.1, 0.3, 1, 3, 10, 30, 100, 300] as const;

/** One penalty's mean held-out log-loss (lower is better). */
export interface LambdaScore {
  lambda: number;
  logLoss: number;
}

/**
 * The penalty that predicts best on rows left out of the fit: `folds`-fold cross-validation, row i held
 * out in fold `i % folds` (deterministic: order the rows first), scored by mean log-loss over all rows.
 * Ties go to the larger penalty (the simpler model). Few rows make noisy coefficients, and this is what
 * lets the data say how far to trust them.
 */
export function chooseLambda(
  rows: readonly (readonly number[])[],
  labels: readonly boolean[],
  options: { grid?: readonly number[]; folds?: number } = {},
): { lambda: number; scores: LambdaScore[] } {
  const grid = options.grid ?? lambdaGrid;
  const folds = Math.min(options.folds ?? 5, rows.length);
  if (grid.length === 0) throw new Error('expected at least one penalty to try');
  const scores = grid.map((lambda) => {
    let loss = 0;
    for (let fold = 0; fold < folds; fold += 1) {
      const train = rows.flatMap((row, i) => (i % folds === fold ? [] : [row]));
      const trainLabels = labels.filter((_, i) => i % folds !== fold);
      const fit = fitLogistic(train, trainLabels, { lambda });
      rows.forEach((row, i) => {
        if (i % folds !== fold) return;
        const p = Math.min(1 - 1e-12, Math.max(1e-12, predictLogistic(fit, row)));
        loss -= labels[i] ? Math.log(p) : Math.log(1 - p);
      });
    }
    return { lambda, logLoss: loss / rows.length };
  });
  const best = scores.reduce((chosen, score) => (score.logLoss <= chosen.logLoss + 1e-12 ? score : chosen));
  return { lambda: best.lambda, scores };
}
