// Draws a machine picture (states placed by the server's layered layout) as SVG, built with
// DOM calls only: no markup strings, no inline styles (the page's CSP forbids them).
const NS = 'http://www.w3.org/2000/svg';

/**
 * @param {string} tag
 * @param {Record<string, string | number>} attrs
 * @returns {SVGElement}
 */
function s(tag, attrs) {
  const el = /** @type {SVGElement} */ (document.createElementNS(NS, tag));
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/**
 * @typedef {{ id: string, label: string, final: boolean, current: boolean, x: number, y: number, width: number, height: number }} GraphNode
 * @typedef {{ from: string, to: string, label: string }} GraphEdge
 * @typedef {{ kind: string, width: number, height: number, nodes: GraphNode[], edges: GraphEdge[] }} MachineGraph
 */

/**
 * @param {MachineGraph} graph
 * @returns {SVGElement}
 */
export function drawMachine(graph) {
  const current = graph.nodes.find((n) => n.current);
  const svg = s('svg', {
    class: 'machine',
    viewBox: `0 0 ${graph.width + 40} ${graph.height}`,
    width: graph.width + 40,
    height: graph.height,
    role: 'img',
    'aria-label': `State machine of ${graph.kind}${current ? `, now in ${current.label}` : ''}`,
  });
  const defs = s('defs', {});
  const marker = s('marker', {
    id: 'arrow',
    viewBox: '0 0 10 10',
    refX: 9,
    refY: 5,
    markerWidth: 7,
    markerHeight: 7,
    orient: 'auto-start-reverse',
  });
  marker.append(s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }));
  defs.append(marker);
  svg.append(defs);
  /** @type {Map<string, GraphNode>} */
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  /** @type {Map<string, number>} */
  const pairCount = new Map();
  for (const e of graph.edges) {
    const a = byId.get(e.from);
    const b = byId.get(e.to);
    if (!a || !b) continue;
    const key = `${e.from}>${e.to}`;
    const nth = pairCount.get(key) ?? 0;
    pairCount.set(key, nth + 1);
    const ax = a.x + a.width / 2;
    const bx = b.x + b.width / 2;
    let d;
    let lx;
    let ly;
    if (b.y > a.y) {
      // Downwards: bottom centre to top centre; an edge that skips layers bends out to its side.
      const y1 = a.y + a.height;
      const y2 = b.y;
      if (y2 - y1 > 84) {
        const dx = (bx >= ax ? 1 : -1) * Math.max(60, Math.abs(bx - ax));
        d = `M${ax},${y1} C${ax + dx},${y1 + 40} ${bx},${y2 - 70} ${bx},${y2}`;
        lx = (ax + bx) / 2 + dx / 2 + 4;
        ly = (y1 + y2) / 2;
      } else {
        d = `M${ax},${y1} L${bx},${y2}`;
        lx = (ax + bx) / 2 + 4;
        ly = (y1 + y2) / 2 + nth * 11;
      }
    } else if (b.y === a.y) {
      // Sideways: between the facing sides.
      const right = b.x > a.x;
      const x1 = right ? a.x + a.width : a.x;
      const x2 = right ? b.x : b.x + b.width;
      const y = a.y + a.height / 2;
      d = `M${x1},${y} L${x2},${y}`;
      lx = Math.min(x1, x2) + 2;
      ly = y - 5;
    } else {
      // Back up: a curve out to the right.
      const x1 = a.x + a.width;
      const x2 = b.x + b.width;
      const bend = Math.max(x1, x2) + 30;
      const y1 = a.y + a.height / 2;
      const y2 = b.y + b.height / 2;
      d = `M${x1},${y1} C${bend},${y1} ${bend},${y2} ${x2},${y2}`;
      lx = bend - 18;
      ly = (y1 + y2) / 2;
    }
    svg.append(s('path', { d, class: 'edge', 'marker-end': 'url(#arrow)' }));
    if (e.label) {
      const t = s('text', { x: lx, y: ly, class: 'edge-label' });
      t.textContent = e.label;
      svg.append(t);
    }
  }
  for (const n of graph.nodes) {
    const g = s('g', {});
    const cls = [n.final ? 'final' : '', n.current ? 'current' : ''].filter(Boolean).join(' ');
    g.append(
      s('rect', {
        x: n.x,
        y: n.y,
        width: n.width,
        height: n.height,
        rx: n.final ? 17 : 6,
        class: cls,
      }),
    );
    const t = s('text', {
      x: n.x + n.width / 2,
      y: n.y + n.height / 2 + 4,
      'text-anchor': 'middle',
    });
    t.textContent = n.current ? `● ${n.label}` : n.label;
    g.append(t);
    svg.append(g);
  }
  return svg;
}
