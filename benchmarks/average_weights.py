"""Average the weights of model files of one network (a uniform "model soup", Wortsman et al.
2022): every floating-point tensor, BatchNorm statistics included, is the mean over the files;
the first file's record (network, options, meta) is kept. The training record (``rgb2depth_info``)
is not any one input's: ``soup_of`` lists each input with its config, steps and precise-BN draw
(and, for an input that is itself a soup, its own ``soup_of``), and the fields that describe one
run (its final validation, best step) are dropped.

It makes sense for runs that start from the same weights (the ImageNet encoder and the same
seeded decoder) and so stay in one basin; the result is scored like any run:

    .venv/bin/python benchmarks/average_weights.py runs/v3/soup.pt default runs/v3/default_v3_ema/model.pt
    .venv/bin/python benchmarks/eval_training_side.py runs/v3/soup.pt
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", help="model file to write")
    ap.add_argument("models", nargs="+", help="model files of one network ('default': the shipped weights)")
    args = ap.parse_args(argv)

    import torch

    from rgb2depth.inference.resolve import default_weights_path
    from rgb2depth.models.io import load_model, save_model

    paths = [str(default_weights_path()) if p == "default" else p for p in args.models]
    models = [load_model(p) for p in paths]
    states = [m.state_dict() for m in models]
    for p, s in zip(paths[1:], states[1:], strict=True):
        if s.keys() != states[0].keys() or any(s[k].shape != v.shape for k, v in states[0].items()):
            raise SystemExit(f"{p}: not the network of {paths[0]} (other weight names or shapes)")
    avg = {k: (sum(s[k].double() for s in states) / len(states)).to(v.dtype) if v.is_floating_point() else v
           for k, v in states[0].items()}
    with torch.no_grad():
        models[0].load_state_dict(avg)
    infos = [getattr(m, "rgb2depth_info", None) or {} for m in models]
    # An input that is itself a soup keeps its members' record (nested), so a shipped file says
    # every run that went into it.
    info = {"soup_of": [{"file": a, **{k: i[k] for k in ("config", "steps", "precise_bn", "soup_of") if k in i}}
                        for a, i in zip(args.models, infos, strict=True)]}
    if len({i.get("loss") for i in infos}) == 1 and infos[0].get("loss"):
        info["loss"] = infos[0]["loss"]
    save_model(models[0], args.output, info=info)
    print(f"wrote {args.output}: the mean of {len(paths)} model files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
