/**
 * Every lead of the table with its events, for the operator jobs that replay histories (`mql backtest`,
 * `mql report`, `mql calibrate`, `mql rescore`): ONE pass of a parallel Scan (lib/store/table-scan.ts) that
 * reads each lead's profile and events where they lie, instead of a Scan for the leads and a Query for each
 * lead's events, which read every event twice. Reads only; never on a request path. Memory holds a page of
 * each segment at a time, so the caller decides what it keeps.
 */
import type { NormalizedEvent } from '../core/events.ts';
import { profileSk } from './keys.ts';
import { eventOfItem, withPendingEvents } from './lead-codec.ts';
import type { StoredLead } from './repository.ts';
import { storedLeadOf } from './table.ts';
import type { ScanPage, ScanSegment } from './table-scan.ts';

/** A lead and its stored events, oldest first. */
export interface LeadHistory {
  leadId: string;
  events: NormalizedEvent[];
}

/**
 * A lead as the Scan read it: its PROFILE item as the stored lead and its events, oldest first. Eventually
 * consistent, and the profile and the events are read at different moments (EVT# sorts before PROFILE): a
 * writer trusts it only as far as a version-checked write does (lib/store/lead-writes.ts `replaceState`).
 */
export interface ScannedLead {
  lead: StoredLead;
  events: NormalizedEvent[];
}

/**
 * Where each segment of a walk stands, for a job that stops and resumes (`mql rescore --resume`): the key of
 * the last item of the last lead the segment finished (a Scan's ExclusiveStartKey), `null` once the
 * segment is done, undefined before it finished a lead. Never the page's own LastEvaluatedKey: a page may
 * end inside a lead, whose items would then be cut in two across the runs.
 */
export type ResumeCursors = (Record<string, unknown> | null | undefined)[];

/** One round of a walk: the leads its pages completed, the items they evaluated, where each segment can resume. */
export interface LeadRound {
  leads: ScannedLead[];
  scanned: number;
  cursors: ResumeCursors;
  done: boolean;
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

/** A partition key's items as the Scan hands them over, until the next key starts. */
interface Collecting {
  pk: string;
  /** The sort key of its last item seen so far: with `pk`, where a resumed walk starts after it. */
  lastSk: unknown;
  profile?: Record<string, unknown>;
  events: NormalizedEvent[];
}

/** One segment's walk: its cursor, the lead still being collected across a page boundary, the keys it finished. */
class SegmentWalk {
  cursor: Record<string, unknown> | undefined;
  done = false;
  /** The key of the last item of the last partition finished (see {@link ResumeCursors}). */
  private resumeKey: Record<string, unknown> | undefined;
  private collecting: Collecting | undefined;
  private readonly finished = new Set<string>();
  private readonly since: string | undefined;
  readonly segment: ScanSegment;

  constructor(segment: ScanSegment, since: Date | undefined, from: Record<string, unknown> | null | undefined) {
    this.segment = segment;
    this.since = since?.toISOString();
    this.done = from === null;
    this.cursor = from ?? undefined;
    this.resumeKey = from ?? undefined;
  }

  /** Where a later walk of this segment starts so that it reads every lead this one has not finished whole. */
  get resume(): Record<string, unknown> | null | undefined {
    return this.done ? null : this.resumeKey;
  }

  /** The leads this page completes; the last key's items may go on in the next page. */
  take(page: ScanPage): ScannedLead[] {
    const complete: ScannedLead[] = [];
    for (const item of page.items) {
      const pk = item.pk as string;
      if (this.collecting?.pk !== pk) {
        this.finish(complete);
        // Should a key's items ever come apart, the histories would be wrong: stop rather than count a lead twice.
        if (this.finished.has(pk)) throw new Error(`the Scan returned the items of ${pk.slice(0, 5)}… apart; run the job again with --segments 1`);
        this.collecting = { pk, lastSk: item.sk, events: [] };
      }
      this.collecting.lastSk = item.sk;
      if (item.sk === profileSk) this.collecting.profile = item;
      else this.collecting.events.push(eventOfItem(item));
    }
    this.cursor = page.cursor;
    if (!page.cursor) {
      this.finish(complete);
      this.done = true;
    }
    return complete;
  }

  private finish(into: ScannedLead[]): void {
    const current = this.collecting;
    this.collecting = undefined;
    if (!current) return;
    this.finished.add(current.pk);
    this.resumeKey = { pk: current.pk, sk: current.lastSk };
    const profile = current.profile;
    // Leads only: an alias, or a provider-key lead merged into an e-mail lead (whose events were copied there), is not one.
    if (profile?.kind !== 'lead' || profile.mergedInto) return;
    if (this.since && !((profile.firstSeenAt as string | undefined) && (profile.firstSeenAt as string) >= this.since)) return;
    current.events.sort((a, b) => (a.occurredAt === b.occurredAt ? 0 : a.occurredAt < b.occurredAt ? -1 : 1));
    const lead = storedLeadOf(profile);
    into.push({ lead, events: withPendingEvents(current.events, lead) });
  }
}

/**
 * Every lead with its events, a round at a time: each round reads the next page of every unfinished
 * segment at once and yields what those pages completed, with where each segment would resume. `from`
 * continues a walk of as many segments from the {@link ResumeCursors} of one of its rounds.
 */
export async function* walkLeads(
  store: Pick<HistoryScan, 'scanHistoryPage'>,
  options: Omit<HistoryWalkOptions, 'onProgress'> & { from?: ResumeCursors } = {},
): AsyncGenerator<LeadRound> {
  const total = options.from ? options.from.length : Math.max(1, Math.floor(options.segments ?? 1));
  const walks = Array.from({ length: total }, (_, index) => new SegmentWalk({ index, total }, options.since, options.from?.[index]));
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
    let scanned = 0;
    const leads = open.flatMap((walk, index) => {
      scanned += pages[index]!.scanned;
      return walk.take(pages[index]!);
    });
    yield { leads, scanned, cursors: walks.map((walk) => walk.resume), done: walks.every((walk) => walk.done) };
  }
}

/**
 * The histories of every lead, a round at a time ({@link walkLeads}); rounds that completed no lead are
 * not yielded, but reported to `onProgress`.
 */
export async function* scanLeadHistories(store: HistoryScan, options: HistoryWalkOptions = {}): AsyncGenerator<LeadHistory[]> {
  const { onProgress, ...walk } = options;
  const estimate = onProgress ? await store.tableEstimate() : undefined;
  let scanned = 0;
  let leads = 0;
  for await (const round of walkLeads(store, walk)) {
    scanned += round.scanned;
    leads += round.leads.length;
    onProgress?.({ scanned, leads, tableItems: estimate?.items, done: round.done });
    if (round.leads.length > 0) yield round.leads.map(({ lead, events }) => ({ leadId: lead.leadId, events }));
  }
}
