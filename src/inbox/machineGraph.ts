import type { AnyStateMachine } from 'xstate';

/** A state of the picture, placed. */
export interface GraphNode {
  id: string;
  label: string;
  final: boolean;
  /** The actor is in this state now. */
  current: boolean;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A transition of the picture. */
export interface GraphEdge {
  from: string;
  to: string;
  label: string;
}

/** States and transitions of one actor kind's machine, laid out in layers, ready to draw. */
export interface MachineGraph {
  kind: string;
  width: number;
  height: number;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** The parts of an XState v5 state node this reads (the machine's `root` and its children). */
interface StateNodeLike {
  id: string;
  key: string;
  type: string;
  states: Record<string, StateNodeLike>;
  initial?: { target?: readonly StateNodeLike[] } | undefined;
  transitions: Map<string, readonly { target?: readonly StateNodeLike[] | undefined }[]>;
  always?: readonly { target?: readonly StateNodeLike[] | undefined }[] | undefined;
}

const LAYER_HEIGHT = 84;
const NODE_HEIGHT = 34;
const GAP = 28;
const MARGIN = 16;

/** A short name for an event: XState's internal ones by what they mean. */
function eventLabel(type: string): string {
  if (type.startsWith('xstate.done.actor')) return 'done';
  if (type.startsWith('xstate.error.actor')) return 'error';
  if (type.startsWith('xstate.after')) return 'after';
  return type.replace(/^hitl\./, '');
}

/** The leaf states named by a snapshot value (`'a'`, `{ a: 'b' }`, parallel regions). */
function activePaths(value: unknown, prefix: string): string[] {
  if (typeof value === 'string') return [`${prefix}.${value}`];
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => [
      `${prefix}.${k}`,
      ...activePaths(v, `${prefix}.${k}`),
    ]);
  }
  return [];
}

/**
 * The machine's states (nested ones flattened) and transitions, placed by a simple layered
 * layout: a state's layer is its distance from the initial state, states of a layer side by side.
 * `value`: the actor's current snapshot value, to mark its state.
 *
 * @example
 * const g = machineGraph('gate', gateMachine, 'awaitingApproval');
 * g.nodes.find((n) => n.current)?.label; // 'awaitingApproval'
 */
export function machineGraph(
  kind: string,
  machine: AnyStateMachine,
  value?: unknown,
): MachineGraph {
  const root = machine.root as unknown as StateNodeLike;
  const all: StateNodeLike[] = [];
  const collect = (n: StateNodeLike): void => {
    for (const child of Object.values(n.states)) {
      all.push(child);
      collect(child);
    }
  };
  collect(root);
  const edges: GraphEdge[] = [];
  const seen = new Set<string>();
  for (const n of all) {
    const add = (label: string, targets: readonly StateNodeLike[] | undefined): void => {
      for (const t of targets ?? []) {
        const key = `${n.id}>${t.id}>${label}`;
        if (seen.has(key)) continue;
        seen.add(key);
        edges.push({ from: n.id, to: t.id, label });
      }
    };
    for (const [type, list] of n.transitions) for (const t of list) add(eventLabel(type), t.target);
    for (const t of n.always ?? []) add('', t.target);
  }
  // Layers: the longest path from the initial state over forward edges (a depth-first search
  // from the initial state marks the edges that close a cycle as back edges), so every forward
  // edge points down; states it never reaches go last.
  const start = root.initial?.target?.[0]?.id ?? all[0]?.id;
  const back = new Set<GraphEdge>();
  const onPath = new Set<string>();
  const done = new Set<string>();
  const visit = (id: string): void => {
    onPath.add(id);
    for (const e of edges) {
      if (e.from !== id) continue;
      if (onPath.has(e.to)) back.add(e);
      else if (!done.has(e.to)) visit(e.to);
    }
    onPath.delete(id);
    done.add(id);
  };
  if (start) visit(start);
  const layer = new Map<string, number>();
  if (start) layer.set(start, 0);
  for (let changed = true, rounds = 0; changed && rounds <= all.length; rounds++) {
    changed = false;
    for (const e of edges) {
      const from = layer.get(e.from);
      if (back.has(e) || e.from === e.to || from === undefined) continue;
      if ((layer.get(e.to) ?? -1) < from + 1) {
        layer.set(e.to, from + 1);
        changed = true;
      }
    }
  }
  const deepest = Math.max(0, ...layer.values());
  for (const n of all) if (!layer.has(n.id)) layer.set(n.id, deepest + 1);
  const active = new Set(value === undefined ? [] : activePaths(value, root.id));
  const rows = new Map<number, StateNodeLike[]>();
  for (const n of all)
    rows.set(layer.get(n.id) ?? 0, [...(rows.get(layer.get(n.id) ?? 0) ?? []), n]);
  const rowWidth = (row: StateNodeLike[]): number =>
    row.reduce((w, n) => w + labelWidth(n.key) + GAP, -GAP);
  const width = Math.max(...[...rows.values()].map(rowWidth), 120) + 2 * MARGIN;
  const nodes: GraphNode[] = [];
  const centre = new Map<string, number>();
  for (const [index, row] of [...rows.entries()].sort((a, b) => a[0] - b[0])) {
    // Under their parents, as far as the order allows: fewer crossings.
    const weight = (n: StateNodeLike): number => {
      const xs = edges
        .filter((e) => e.to === n.id && centre.has(e.from))
        .map((e) => centre.get(e.from) ?? 0);
      return xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : width / 2;
    };
    row.sort((a, b) => weight(a) - weight(b));
    let x = (width - rowWidth(row)) / 2;
    for (const n of row) {
      const w = labelWidth(n.key);
      nodes.push({
        id: n.id,
        label: n.key,
        final: n.type === 'final',
        current: active.has(n.id),
        x,
        y: MARGIN + index * LAYER_HEIGHT,
        width: w,
        height: NODE_HEIGHT,
      });
      centre.set(n.id, x + w / 2);
      x += w + GAP;
    }
  }
  const height =
    MARGIN * 2 + (Math.max(...rows.keys(), 0) + 1) * LAYER_HEIGHT - (LAYER_HEIGHT - NODE_HEIGHT);
  return { kind, width, height, nodes, edges };
}

function labelWidth(label: string): number {
  return Math.max(64, label.length * 7.5 + 24);
}
