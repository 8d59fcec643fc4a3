"""Forward FLOPs of a network, counted on its PyTorch twin with hooks on every
convolution and linear layer (2 per multiply-add; bias, activation, pooling and
normalization not counted). Needs torch; returns None without it."""
from bench.workloads import INPUT_SHAPES


def forward_flops_per_item(network):
    try:
        import torch
    except ImportError:
        return None
    from bench import networks
    net = getattr(networks, f"{network}_torch")().net.eval()
    total = [0]

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            per_out = module.in_channels // module.groups * kh * kw
        else:
            per_out = module.in_features
        total[0] += 2 * output.numel() * per_out

    handles = [m.register_forward_hook(hook) for m in net.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    h, w, c = INPUT_SHAPES[network]
    with torch.no_grad():
        net(torch.zeros(1, c, h, w))
    for handle in handles:
        handle.remove()
    return float(total[0])
