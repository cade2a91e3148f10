//! Cell diagrams: a genotype's normal and reduction cells as one SVG, the
//! way DARTS papers draw them — the two cell inputs on the left, the
//! intermediate nodes in layers by their longest path from the inputs, the
//! output (the concatenation) on the right, every kept (predecessor, op)
//! pair an arrow labelled with its op. Pairs that repeat a predecessor
//! (XDARTS nodes keep one op per predecessor, and a DARTS node may take the
//! same input twice) are drawn as separate arcs.
//!
//! The layout is our own layered one (a DAG of at most a few dozen nodes
//! needs no general graph-layout engine, and this keeps the SVG
//! dependency-free and deterministic).

use std::fmt::Write as _;

use models::genotype::{CellGenotype, Genotype, input_name};

const BOX_W: f64 = 76.0;
const BOX_H: f64 = 30.0;
const COL_GAP: f64 = 200.0;
const ROW_GAP: f64 = 62.0;
const MARGIN: f64 = 24.0;
const TITLE_H: f64 = 28.0;

/// Where each state of a cell sits: inputs 0 and 1, nodes 2.., output last.
struct Layout {
    /// (column, row) per state, the output included.
    at: Vec<(usize, usize)>,
    columns: usize,
    rows: usize,
}

/// Longest-path layers: inputs in column 0, node j one column right of its
/// deepest predecessor, the output right of every node.
fn layout(cell: &CellGenotype, n_nodes: usize) -> Layout {
    let mut column = vec![0usize; n_nodes + 2];
    for node in 0..n_nodes {
        column[node + 2] = 1 + cell
            .node_inputs(node)
            .map(|e| column[e.predecessor])
            .max()
            .unwrap_or(0);
    }
    let out_column = column.iter().copied().max().unwrap_or(0) + 1;
    column.push(out_column);
    let columns = out_column + 1;
    let mut filled = vec![0usize; columns];
    let at: Vec<(usize, usize)> = column
        .iter()
        .map(|&c| {
            let row = filled[c];
            filled[c] += 1;
            (c, row)
        })
        .collect();
    let rows = filled.iter().copied().max().unwrap_or(1);
    Layout { at, columns, rows }
}

/// The point at `t` of the cubic Bézier curve with control points `p`.
fn bezier(p: &[(f64, f64); 4], t: f64) -> (f64, f64) {
    let u = 1.0 - t;
    let w = [u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t];
    (
        w.iter().zip(p).map(|(w, p)| w * p.0).sum(),
        w.iter().zip(p).map(|(w, p)| w * p.1).sum(),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Draws one cell with its top-left corner at (`x0`, `y0`); returns the
/// size it took.
fn draw_cell(
    svg: &mut String,
    title: &str,
    cell: &CellGenotype,
    n_nodes: usize,
    (x0, y0): (f64, f64),
) -> (f64, f64) {
    let lay = layout(cell, n_nodes);
    let height = lay.rows as f64 * ROW_GAP;
    let width = (lay.columns - 1) as f64 * COL_GAP + BOX_W;
    // Columns are centred vertically.
    let per_column = |c: usize| lay.at.iter().filter(|(col, _)| *col == c).count();
    let centre = |state: usize| -> (f64, f64) {
        let (c, r) = lay.at[state];
        let offset = (lay.rows - per_column(c)) as f64 * ROW_GAP / 2.0;
        (
            x0 + c as f64 * COL_GAP + BOX_W / 2.0,
            y0 + TITLE_H + offset + r as f64 * ROW_GAP + ROW_GAP / 2.0,
        )
    };
    let _ = writeln!(
        svg,
        r#"<text class="title" x="{x0:.1}" y="{:.1}">{}</text>"#,
        y0 + 18.0,
        escape(title)
    );
    // Edges first, boxes on top. Repeated (predecessor, node) pairs fan out.
    let mut seen: Vec<(usize, usize)> = Vec::new();
    for e in &cell.edges {
        let pair = (e.predecessor, e.node + 2);
        let k = seen.iter().filter(|p| **p == pair).count();
        seen.push(pair);
        let total = cell
            .edges
            .iter()
            .filter(|o| (o.predecessor, o.node + 2) == pair)
            .count();
        let bend = (k as f64 - (total as f64 - 1.0) / 2.0) * 26.0;
        let (x1, y1) = centre(e.predecessor);
        let (x2, y2) = centre(e.node + 2);
        let (sx, ex) = (x1 + BOX_W / 2.0, x2 - BOX_W / 2.0);
        // Control points a fixed reach from each end: the arc leaves and
        // enters horizontally, fanned out by `bend`.
        let reach = ((ex - sx) / 2.0).min(80.0);
        let p = [
            (sx, y1),
            (sx + reach, y1 + bend),
            (ex - reach, y2 + bend),
            (ex, y2),
        ];
        let _ = writeln!(
            svg,
            r##"<path class="edge" d="M {:.1} {:.1} C {:.1} {:.1}, {:.1} {:.1}, {:.1} {:.1}" marker-end="url(#arrow)"/>"##,
            p[0].0, p[0].1, p[1].0, p[1].1, p[2].0, p[2].1, p[3].0, p[3].1
        );
        // The label sits on the arc in the gap before the target's column:
        // the node's two (or more) inputs at different points along their
        // arcs, each on the side its arc comes from, so they do not collide.
        let nth_input = cell
            .edges
            .iter()
            .take_while(|o| !std::ptr::eq(*o, e))
            .filter(|o| o.node == e.node)
            .count();
        let t = if nth_input % 2 == 0 { 0.62 } else { 0.82 };
        let (lx, ly) = bezier(&p, t);
        let dy = if y1 > y2 + 1.0 { 13.0 } else { -4.0 };
        let label = escape(&e.op.to_string());
        let _ = writeln!(
            svg,
            r#"<text class="op" x="{lx:.1}" y="{:.1}">{label}</text>"#,
            ly + dy
        );
    }
    let out = n_nodes + 2;
    for &node in &cell.concat {
        let (x1, y1) = centre(node + 2);
        let (x2, y2) = centre(out);
        let _ = writeln!(
            svg,
            r##"<path class="concat" d="M {:.1} {y1:.1} L {:.1} {y2:.1}" marker-end="url(#arrow)"/>"##,
            x1 + BOX_W / 2.0,
            x2 - BOX_W / 2.0
        );
    }
    for state in 0..=out {
        let (cx, cy) = centre(state);
        let (class, label) = match state {
            0 | 1 => ("input", input_name(state)),
            s if s == out => ("output", "c_k".to_string()),
            s => ("node", format!("{}", s - 2)),
        };
        let _ = writeln!(
            svg,
            r#"<rect class="{class}" x="{:.1}" y="{:.1}" width="{BOX_W}" height="{BOX_H}" rx="6"/><text class="state" x="{cx:.1}" y="{:.1}">{}</text>"#,
            cx - BOX_W / 2.0,
            cy - BOX_H / 2.0,
            cy + 5.0,
            escape(&label)
        );
    }
    (width, TITLE_H + height)
}

/// The normal and the reduction cell of `genotype`, one above the other,
/// as a standalone SVG document.
pub fn cells_svg(genotype: &Genotype) -> String {
    let mut body = String::new();
    let (w1, h1) = draw_cell(
        &mut body,
        &format!("normal cell ({})", genotype.relaxation),
        &genotype.normal,
        genotype.n_nodes,
        (MARGIN, MARGIN),
    );
    let (w2, h2) = draw_cell(
        &mut body,
        &format!("reduction cell ({})", genotype.relaxation),
        &genotype.reduce,
        genotype.n_nodes,
        (MARGIN, MARGIN + h1 + MARGIN),
    );
    let width = w1.max(w2) + 2.0 * MARGIN;
    let height = h1 + h2 + 3.0 * MARGIN;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>
<style>
.title {{ font-size: 15px; font-weight: bold; fill: #222; }}
.edge {{ fill: none; stroke: #555; stroke-width: 1.4; }}
.concat {{ fill: none; stroke: #999; stroke-width: 1.2; stroke-dasharray: 4 3; }}
.op {{ font-size: 11px; fill: #1a4f8b; text-anchor: middle; paint-order: stroke; stroke: #fff; stroke-width: 3px; }}
.state {{ font-size: 13px; text-anchor: middle; fill: #111; }}
.input {{ fill: #d8ecd8; stroke: #4a8a4a; }}
.node {{ fill: #dde7f5; stroke: #4a6a9a; }}
.output {{ fill: #f5e3c8; stroke: #9a7a4a; }}
</style>
<rect width="100%" height="100%" fill="#fff"/>
{body}</svg>
"##
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use models::genotype::{GenotypeEdge, random_genotype, seeded_picker};
    use models::space::{OpKind, OpSpace, Relaxation, ZeroConfig};

    /// Every kept pair is one arrow with its op's label, every concatenated
    /// node one dashed arrow, every state one box, for each relaxation.
    #[test]
    fn every_edge_op_and_state_is_drawn() {
        for relaxation in [Relaxation::Darts, Relaxation::IDarts, Relaxation::XDarts] {
            let g = random_genotype(
                relaxation,
                4,
                &OpSpace::darts(ZeroConfig::V1),
                &mut seeded_picker(3),
            );
            let svg = cells_svg(&g);
            let edges = g.normal.edges.len() + g.reduce.edges.len();
            assert_eq!(svg.matches(r#"class="edge""#).count(), edges);
            assert_eq!(
                svg.matches(r#"class="concat""#).count(),
                g.normal.concat.len() + g.reduce.concat.len()
            );
            assert_eq!(svg.matches("<rect class=").count(), 2 * (4 + 3));
            for e in g.normal.edges.iter().chain(&g.reduce.edges) {
                assert!(svg.contains(&format!(">{}</text>", e.op)), "{}", e.op);
            }
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        }
    }

    /// Two ops from the same predecessor into the same node are two
    /// distinct arcs, and a node reading another node sits right of it.
    #[test]
    fn repeated_predecessors_are_separate_arcs_and_layers_follow_paths() {
        let edge = |node, predecessor, op| GenotypeEdge {
            node,
            predecessor,
            op,
        };
        let cell = CellGenotype {
            edges: vec![
                edge(0, 0, OpKind::SepConv3x3),
                edge(0, 0, OpKind::MaxPool3x3),
                edge(1, 2, OpKind::Identity),
                edge(1, 1, OpKind::DilConv3x3),
            ],
            concat: vec![0, 1],
        };
        let lay = layout(&cell, 2);
        assert_eq!(lay.at[2].0, 1, "node 0 reads the inputs");
        assert_eq!(lay.at[3].0, 2, "node 1 reads node 0");
        assert_eq!(lay.at[4].0, 3, "the output is last");
        let mut svg = String::new();
        draw_cell(&mut svg, "t", &cell, 2, (0.0, 0.0));
        let paths: Vec<&str> = svg
            .lines()
            .filter(|l| l.contains(r#"class="edge""#))
            .collect();
        assert_eq!(paths.len(), 4);
        assert_ne!(paths[0], paths[1], "the repeated pair must not overlap");
    }
}
