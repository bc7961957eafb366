/**
 * The progress line every long operator job writes on a terminal's stderr (`mql rescore`, `backtest`,
 * `report`, `calibrate`): items read, leads, leads per second and an ETA from DynamoDB's own item count
 * (lib/store/table-scan.ts `tableEstimate`, refreshed about every six hours, so an estimate). Pure text.
 */

export interface JobProgress {
  /** Leads handled so far. */
  leads: number;
  /** Items the Scan evaluated so far. */
  scanned: number;
  /** DynamoDB's count of the table's items, when readable. */
  tableItems?: number | undefined;
  /** Seconds since the job started. */
  seconds: number;
}

/** `1h 02m`, `3m 20s`, `12s`. */
export function formatDuration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  if (hours > 0) return `${hours}h ${String(minutes).padStart(2, '0')}m`;
  if (minutes > 0) return `${minutes}m ${String(whole % 60).padStart(2, '0')}s`;
  return `${whole}s`;
}

/** e.g. `rescore: 12,000 leads, 61,250 items read of ~500,000 (12%), 410 leads/s, ETA 3m 15s`. */
export function progressText(label: string, progress: JobProgress): string {
  const count = (value: number) => value.toLocaleString('en-US');
  const rate = progress.seconds > 0 ? progress.leads / progress.seconds : 0;
  let text = `${label}: ${count(progress.leads)} leads, ${count(progress.scanned)} items read`;
  const total = progress.tableItems;
  if (total && total > 0) {
    const share = Math.min(1, progress.scanned / total);
    text += ` of ~${count(total)} (${Math.round(share * 100)}%)`;
    const itemsPerSecond = progress.seconds > 0 ? progress.scanned / progress.seconds : 0;
    if (itemsPerSecond > 0 && share < 1) text += `, ${rate.toFixed(0)} leads/s, ETA ${formatDuration((total - progress.scanned) / itemsPerSecond)}`;
    else text += `, ${rate.toFixed(0)} leads/s`;
  } else {
    text += `, ${rate.toFixed(0)} leads/s`;
  }
  return text;
}
