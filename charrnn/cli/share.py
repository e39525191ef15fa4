"""`charrnn export | push`: share a model as a Hub-style folder (config.json, model.safetensors, README.md), and
upload such a folder to the Hugging Face Hub. Every `--checkpoint` option also reads these folders and
hf://user/name[@revision] names (`charrnn.checkpoint.load`)."""
from __future__ import annotations

import sys

from .. import checkpoint as ckpt
from .. import hub, kinds, modelfolder
from ..export import export


def cmd_export(args) -> None:
    try:
        out = export(args.checkpoint, args.out, force=args.force)
    except OSError as e:  # a folder that cannot be written (permissions, a full disk): one line, nothing left
        raise ValueError(f"cannot write {args.out}: {e.strerror or e}") from None
    print(f"exported {ckpt.display_name(args.checkpoint)} to {out}/ ({', '.join(modelfolder.FILES)})",
          file=sys.stderr)
    print(out)


def cmd_push(args) -> None:
    if not modelfolder.is_model_folder(args.folder):
        raise ckpt.CheckpointError(f"{args.folder} is not a model folder (config.json + model.safetensors): make "
                                   f"one with `charrnn export --checkpoint FILE --out {args.folder}`")
    obj = ckpt.load(args.folder)  # what is uploaded must load: the same checks as any checkpoint
    kinds.get(obj["kind"]).check(obj, ckpt.display_name(args.folder))
    url = hub.push(args.folder, args.repo, private=args.private, message=args.message)
    print(f"pushed {args.folder} to {url}; load it with --checkpoint hf://{args.repo}", file=sys.stderr)
    print(url)


def register(subparsers) -> None:
    """Add `export` and `push` to charrnn's parser."""
    p = subparsers.add_parser("export", help="write a checkpoint as a Hub-style folder: model.safetensors, "
                                             "config.json and a model card (README.md)")
    p.add_argument("--checkpoint", required=True,
                   help="a .pt checkpoint (any kind), a model folder, or hf://user/name[@revision]")
    p.add_argument("--out", required=True, help="the folder to create (written whole, or not at all)")
    p.add_argument("--force", action="store_true", help="replace an earlier export at --out")
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("push", help="upload a model folder to the Hugging Face Hub (log in first: "
                                           "`hf auth login`, or set HF_TOKEN)")
    p.add_argument("folder", help="a folder written by `charrnn export`")
    p.add_argument("--repo", required=True, help="the model repository, user/name (created when missing)")
    p.add_argument("--private", action="store_true", help="create the repository private")
    p.add_argument("--message", help="the commit message")
    p.set_defaults(func=cmd_push)
