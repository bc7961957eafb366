/** The processes of a run: CPU time from /proc, DynamoDB Local's Java (ours, and others skewing the figures), Java's version. */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { arch, cpus, platform, release, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { round } from './stats.ts';

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: fields start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds a process has used (Linux /proc), or undefined. */
export function processCpuSeconds(pid: number): number | undefined {
  const fields = statFields(pid);
  if (!fields) return undefined;
  // After the comm: state(0) ppid(1) ... utime(11) stime(12)
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

/** DynamoDB Local Java processes whose parent is this process (Linux /proc; ps elsewhere). */
export function dynamoDbLocalChildren(parent = process.pid): number[] {
  return dynamoDbLocalProcesses((ppid) => ppid === parent);
}

/** DynamoDB Local processes that are not ours (another test run sharing the machine skews the figures). */
export function otherDynamoDbLocals(parent = process.pid): number[] {
  return dynamoDbLocalProcesses((ppid) => ppid !== parent);
}

function dynamoDbLocalProcesses(parentMatches: (ppid: number) => boolean): number[] {
  if (existsSync('/proc/self/stat')) {
    const pids: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      const fields = statFields(pid);
      if (!fields || !parentMatches(Number(fields[1])) || fields[0] === 'Z') continue;
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('DynamoDBLocal')) pids.push(pid);
      } catch {
        // gone meanwhile
      }
    }
    return pids;
  }
  try {
    return execFileSync('ps', ['-A', '-o', 'pid=,ppid=,command='], { encoding: 'utf8' })
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter(([, ppid, ...command]) => parentMatches(Number(ppid)) && command.join(' ').includes('DynamoDBLocal'))
      .map(([pid]) => Number(pid));
  } catch {
    return [];
  }
}

export function isAlive(pid: number): boolean {
  const fields = statFields(pid);
  if (fields) return fields[0] !== 'Z';
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function javaVersion(): string {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8' });
  const text = `${result.stderr ?? ''}${result.stdout ?? ''}`;
  return text.split('\n')[0]?.trim() || 'unknown';
}

/** What the figures were measured on. */
export function machineFacts(): { platform: string; release: string; arch: string; cpus: number; cpuModel: string; memoryGiB: number } {
  const cpuInfo = cpus();
  return {
    platform: platform(),
    release: release(),
    arch: arch(),
    cpus: cpuInfo.length,
    cpuModel: cpuInfo[0]?.model?.trim() ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
  };
}

// --- CPU of a phase ---------------------------------------------------------------------------

export interface CpuMark {
  wall: number;
  node: NodeJS.CpuUsage;
  java: number | undefined;
  elu: ReturnType<typeof performance.eventLoopUtilization>;
}

export interface CpuUse {
  seconds: number;
  nodeCores: number;
  javaCores: number | null;
  eventLoopUtilization: number;
}

/** Wall time, cores used by this process and by DynamoDB Local's Java (`javaPid`), and event loop use, between a mark and now. */
export function cpuMeter(javaPid: number | undefined): { mark(): CpuMark; since(mark: CpuMark): CpuUse } {
  const java = () => (javaPid === undefined ? undefined : processCpuSeconds(javaPid));
  return {
    mark: () => ({ wall: performance.now(), node: process.cpuUsage(), java: java(), elu: performance.eventLoopUtilization() }),
    since(mark) {
      const seconds = (performance.now() - mark.wall) / 1000;
      const node = process.cpuUsage(mark.node);
      const javaNow = java();
      return {
        seconds: round(seconds, 3),
        nodeCores: round((node.user + node.system) / 1e6 / seconds, 2),
        javaCores: javaNow === undefined || mark.java === undefined ? null : round((javaNow - mark.java) / seconds, 2),
        eventLoopUtilization: round(performance.eventLoopUtilization(mark.elu).utilization, 3),
      };
    },
  };
}
