/**
 * Every lead of the table with its events, for the operator jobs that replay histories (`mql backtest`,
 * `mql report`, `mql calibrate`): ONE pass of a parallel Scan (lib/store/table-scan.ts) that reads each
 * lead's profile and events where they lie, instead of a Scan for the leads and a Query for each lead's
 * events, which read every event twice. Reads only; never on a request path. Memory holds a page of each
 * segment at a time, so the caller decides what it keeps.
 */
import type { NormalizedEvent } from '../core/events.ts';
import { profileSk } from './keys.ts';
import type { ScanPage, ScanSegment } from './table-scan.ts';

/** A lead and its stored events, oldest first. */
export interface LeadHistory {
  leadId: string;
  events: NormalizedEvent[];
}

/** What the walk reads: pages of a segment's Scan of profiles and events, and the table's size for the ETA. */
export interface HistoryScan {
  scanHistoryPage(options: { segment: ScanSegment; cursor?: Record<string, unknown>; limit?: number }): Promise<ScanPage>;
  tableEstimate(): Promise<{ items: number; bytes: number } | undefined>;
}

/** How far a walk is, after every round of pages. */
export interface WalkProgress {
  /** Items the Scan evaluated so far (what DynamoDB bills). */
  scanned: number;
  leads: number;
  /** DynamoDB's own count of the table's items (refreshed about every six hours), when readable. */
  tableItems: number | undefined;
  done: boolean;
}

export interface HistoryWalkOptions {
  /** Only leads first seen at or after this instant, each with its WHOLE history. */
  since?: Date;
  /** Parallel Scan segments (default 1). */
  segments?: number;
  /** Items a Scan page evaluates (DynamoDB Limit); default DynamoDB's 1 MB pages. */
  pageSize?: number;
  onProgress?: (progress: WalkProgress) => void;
}

/** The item as the event it stores (what `listEvents` returns). */
function eventOf(item: Record<string, unknown>): NormalizedEvent {
  const { pk: _pk, sk: _sk, kind: _kind, appliedAt: _appliedAt, modelVersion: _modelVersion, mergedFrom: _mergedFrom, ...event } = item;
  return event as unknown as NormalizedEvent;
}

/** A partition key's items as the Scan hands them over, until the next key starts. */
interface Collecting {
  pk: string;
  profile?: Record<string, unknown>;
  events: NormalizedEvent[];
}

/** One segment's walk: its cursor, the lead still being collected across a page boundary, the keys it finished. */
class SegmentWalk {
  cursor: Record<string, unknown> | undefined;
  done = false;
  private collecting: Collecting | undefined;
  private readonly finished = new Set<string>();
  private readonly since: string | undefined;
  readonly segment: ScanSegment;

  constructor(segment: ScanSegment, since: Date | undefined) {
    this.segment = segment;
    this.since = since?.toISOString();
  }

  /** The histories this page completes; the last key's items may go on in the next page. */
  take(page: ScanPage): LeadHistory[] {
    const complete: LeadHistory[] = [];
    for (const item of page.items) {
      const pk = item.pk as string;
      if (this.collecting?.pk !== pk) {
        this.finish(complete);
        // Should a key's items ever come apart, the histories would be wrong: stop rather than count a lead twice.
        if (this.finished.has(pk)) throw new Error(`the Scan returned the items of ${pk.slice(0, 5)}… apart; run the job again with --segments 1`);
        this.collecting = { pk, events: [] };
      }
      if (item.sk === profileSk) this.collecting.profile = item;
      else this.collecting.events.push(eventOf(item));
    }
    this.cursor = page.cursor;
    if (!page.cursor) {
      this.finish(complete);
      this.done = true;
    }
    return complete;
  }

  private finish(into: LeadHistory[]): void {
    const current = this.collecting;
    this.collecting = undefined;
    if (!current) return;
    this.finished.add(current.pk);
    const profile = current.profile;
    // Leads only: an alias, or a provider-key lead merged into an e-mail lead (whose events were copied there), is not one.
    if (profile?.kind !== 'lead' || profile.mergedInto) return;
    if (this.since && !((profile.firstSeenAt as string | undefined) && (profile.firstSeenAt as string) >= this.since)) return;
    current.events.sort((a, b) => (a.occurredAt === b.occurredAt ? 0 : a.occurredAt < b.occurredAt ? -1 : 1));
    into.push({ leadId: profile.leadId as string, events: current.events });
  }
}

/**
 * The histories of every lead, a round at a time: each round reads the next page of every unfinished
 * segment at once and yields the leads those pages completed.
 */
export async function* scanLeadHistories(store: HistoryScan, options: HistoryWalkOptions = {}): AsyncGenerator<LeadHistory[]> {
  const total = Math.max(1, Math.floor(options.segments ?? 1));
  const walks = Array.from({ length: total }, (_, index) => new SegmentWalk({ index, total }, options.since));
  const estimate = options.onProgress ? await store.tableEstimate() : undefined;
  let scanned = 0;
  let leads = 0;
  while (walks.some((walk) => !walk.done)) {
    const open = walks.filter((walk) => !walk.done);
    const pages = await Promise.all(
      open.map((walk) =>
        store.scanHistoryPage({
          segment: walk.segment,
          ...(walk.cursor ? { cursor: walk.cursor } : {}),
          ...(options.pageSize ? { limit: options.pageSize } : {}),
        }),
      ),
    );
    const completed = open.flatMap((walk, index) => {
      scanned += pages[index]!.scanned;
      return walk.take(pages[index]!);
    });
    leads += completed.length;
    options.onProgress?.({ scanned, leads, tableItems: estimate?.items, done: walks.every((walk) => walk.done) });
    if (completed.length > 0) yield completed;
  }
}
