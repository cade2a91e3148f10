//! The custom kernels on `Autodiff<Flex>`: each direct forward pass of
//! [`flex`](super::flex) registered with its handwritten backward step.

use super::flex::*;
use super::*;

/// The backward step of the direct batch normalization.
#[derive(Debug)]
pub(super) struct BnBackward;

impl Backward<Flex, 3> for BnBackward {
    type State = (NodeId, NodeId, Arc<BnStats>, f64, BnGeometry);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x_state, gamma_state, stats, epsilon, g) = ops.state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
        let gamma = checkpointer.retrieve_node_output::<FlexTensor>(gamma_state);
        let (gx, dgamma, dbeta) = batch_norm::backward(
            &g,
            &values(&x),
            &values(&grad),
            &values(&gamma),
            &stats,
            epsilon,
        );
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex_tensor_like(gx, &x));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, channel_tensor(dgamma));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, channel_tensor(dbeta));
        }
    }
}

/// The backward step of the direct max pool: the argmax of every output.
#[derive(Debug)]
pub(super) struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    type State = (PoolGeometry, Arc<[u32]>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (g, arg) = ops.state;
        if let Some(node) = node_x {
            let gx = pool::max_backward(&g, &values(&grad), &arg);
            grads.register::<Flex>(node.id, pool_input_grad(gx, &g));
        }
    }
}

/// The backward step of the direct average pool (needs only the shapes).
#[derive(Debug)]
pub(super) struct AvgPoolBackward;

impl Backward<Flex, 1> for AvgPoolBackward {
    type State = PoolGeometry;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_x {
            let gx = pool::avg_backward(&ops.state, &values(&grad));
            grads.register::<Flex>(node.id, pool_input_grad(gx, &ops.state));
        }
    }
}

/// The backward step of a direct-kernel convolution on `Autodiff<Flex>`:
/// the input gradient on the direct kernel, the weight gradient as burn
/// computes it (see [`Plan::backward_weight`]), both burn's to the bit.
#[derive(Debug)]
pub(super) struct ConvBackward;

impl Backward<Flex, 2> for ConvBackward {
    type State = (NodeId, NodeId, ConvKind);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x_state, weight_state, kind) = ops.state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
        let weight = checkpointer.retrieve_node_output::<FlexTensor>(weight_state);
        let plan = kind
            .plan(&x, &weight)
            .expect("the forward pass ran the direct kernel on these tensors");
        if let Some(node) = node_x {
            let gx = plan.backward_input(&values(&grad), &x, &weight);
            grads.register::<Flex>(node.id, gx);
        }
        if let Some(node) = node_weight {
            grads.register::<Flex>(node.id, plan.backward_weight(grad, x, weight));
        }
    }
}

/// A convolution on `Autodiff<Flex>`: the direct kernels and [`ConvBackward`]
/// when they apply, else burn's differentiable `conv2d`.
pub(super) fn autodiff_flex_conv<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    weight: FloatTensor<Autodiff<Flex, C>>,
    kind: ConvKind,
) -> FloatTensor<Autodiff<Flex, C>> {
    if kind.plan(x.primitive(), weight.primitive()).is_none() {
        let options = kind.options(weight.shape()[0]);
        return Autodiff::<Flex, C>::conv2d(x, weight, None, options);
    }
    match ConvBackward
        .prepare::<C>([x.node(), weight.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&x);
            let weight_state = prep.checkpoint(&weight);
            let y = flex_conv(x.into_primitive(), weight.into_primitive(), kind);
            prep.finish((x_state, weight_state, kind), y)
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(flex_conv(x.into_primitive(), weight.into_primitive(), kind))
        }
    }
}

impl<C: CheckpointStrategy> Kernels for Autodiff<Flex, C> {
    fn depthwise_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        dilation: usize,
    ) -> FloatTensor<Self> {
        let kind = ConvKind::Depthwise {
            stride,
            padding,
            dilation,
        };
        autodiff_flex_conv::<C>(x, weight, kind)
    }

    fn pointwise_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        autodiff_flex_conv::<C>(x, weight, ConvKind::Pointwise)
    }

    fn batch_norm_stats(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> BnTrain<Self> {
        let Some(g) = bn_plan(x.primitive(), gamma.primitive(), beta.primitive()) else {
            return Self::batch_norm_train(x, gamma, beta, epsilon).into();
        };
        let (y, stats) = flex_bn(
            x.primitive(),
            gamma.primitive(),
            beta.primitive(),
            epsilon,
            &g,
        );
        let (mean, variance) = stats_tensors(&stats);
        let output = match BnBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                prep.finish((x_state, gamma_state, Arc::new(stats), epsilon, g), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        BnTrain {
            output,
            mean: Self::from_inner(mean),
            variance: Self::from_inner(variance),
        }
    }

    fn max_pool_square(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let Some(g) = pool_plan(x.primitive(), kernel, stride, padding) else {
            let [k, s, p] = [[kernel; 2], [stride; 2], [padding; 2]];
            return Self::max_pool2d(x, k, s, p, [1, 1], false);
        };
        match MaxPoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (y, arg) = flex_max_pool(x.primitive(), &g);
                prep.finish((g, arg), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(flex_max_pool(x.primitive(), &g).0),
        }
    }

    fn avg_pool_square(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let Some(g) = pool_plan(x.primitive(), kernel, stride, padding) else {
            let [k, s, p] = [[kernel; 2], [stride; 2], [padding; 2]];
            return Self::avg_pool2d(x, k, s, p, false, false);
        };
        match AvgPoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(g, flex_avg_pool(x.primitive(), &g)),
            OpsKind::UnTracked(prep) => prep.finish(flex_avg_pool(x.primitive(), &g)),
        }
    }
}
