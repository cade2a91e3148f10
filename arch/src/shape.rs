//! The shape of a network: input, width, depth, cell size, and the
//! per-cell channel and spatial sizes derived from them (docs/algorithms.md
//! §2.3). No tensors: the latency table, the predictor and the export walk
//! the same layout as the burn networks.

use serde::{Deserialize, Serialize};

fn default_channels() -> usize {
    8
}
fn default_layers() -> usize {
    5
}
fn default_nodes() -> usize {
    4
}
fn default_stem_multiplier() -> usize {
    3
}

/// The shape of a network: input, width, depth and cell size. Shared by the
/// search and evaluation templates; every size is a value here, nothing is
/// tied to 32×32 or 3 channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// Input channels (1 for grey images, 3 for RGB).
    pub in_channels: usize,
    /// Input height = width.
    pub image_size: usize,
    pub num_classes: usize,
    /// C: channels per node in the first cells.
    #[serde(default = "default_channels")]
    pub channels: usize,
    /// L: number of cells; reduction cells sit at L/3 and 2L/3.
    #[serde(default = "default_layers")]
    pub layers: usize,
    /// N: intermediate nodes per cell.
    #[serde(default = "default_nodes")]
    pub nodes: usize,
    /// The stem outputs `stem_multiplier · C` channels.
    #[serde(default = "default_stem_multiplier")]
    pub stem_multiplier: usize,
}

impl NetworkConfig {
    /// A network for `in_channels`×`image_size`² inputs and `num_classes`
    /// classes with the default C = 8, L = 5, N = 4 and stem multiplier 3.
    pub fn new(in_channels: usize, image_size: usize, num_classes: usize) -> Self {
        Self {
            in_channels,
            image_size,
            num_classes,
            channels: default_channels(),
            layers: default_layers(),
            nodes: default_nodes(),
            stem_multiplier: default_stem_multiplier(),
        }
    }

    pub fn with_channels(mut self, channels: usize) -> Self {
        self.channels = channels;
        self
    }

    pub fn with_layers(mut self, layers: usize) -> Self {
        self.layers = layers;
        self
    }

    pub fn with_nodes(mut self, nodes: usize) -> Self {
        self.nodes = nodes;
        self
    }

    pub fn with_stem_multiplier(mut self, stem_multiplier: usize) -> Self {
        self.stem_multiplier = stem_multiplier;
        self
    }
    /// True when cell `index` is a reduction cell (docs/algorithms.md §2.3).
    pub fn is_reduction(&self, index: usize) -> bool {
        self.layers >= 3 && (index == self.layers / 3 || index == 2 * self.layers / 3)
    }

    /// Index of the cell after which the auxiliary head is attached (2L/3).
    pub fn aux_position(&self) -> usize {
        2 * self.layers / 3
    }

    /// Per cell: (reduction, reduction_prev, C_pp, C_p, C, H_in of its inputs
    /// s1). Used to build networks and, later, to enumerate shapes for a latency
    /// table.
    pub fn cell_layout(&self) -> Vec<CellShape> {
        let c_stem = self.stem_multiplier * self.channels;
        let (mut c_pp, mut c_p, mut c) = (c_stem, c_stem, self.channels);
        let (mut h_pp, mut h_p) = (self.image_size, self.image_size);
        let mut reduction_prev = false;
        let mut out = Vec::with_capacity(self.layers);
        for index in 0..self.layers {
            let reduction = self.is_reduction(index);
            if reduction {
                c *= 2;
            }
            out.push(CellShape {
                index,
                reduction,
                reduction_prev,
                c_prev_prev: c_pp,
                c_prev: c_p,
                c,
                h_prev_prev: h_pp,
                h_prev: h_p,
            });
            let h_out = if reduction { h_p.div_ceil(2) } else { h_p };
            (c_pp, c_p) = (c_p, self.nodes * c);
            (h_pp, h_p) = (h_p, h_out);
            reduction_prev = reduction;
        }
        out
    }
}

/// Channel and spatial sizes of one cell's inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellShape {
    pub index: usize,
    pub reduction: bool,
    pub reduction_prev: bool,
    pub c_prev_prev: usize,
    pub c_prev: usize,
    pub c: usize,
    pub h_prev_prev: usize,
    pub h_prev: usize,
}
