"""The log of a training run: OUT/log.csv, OUT/eval.csv, TensorBoard scalars (OUT/tb) and the
tqdm progress bar.

log.csv has a row every log_every steps (and at the last step): step, lr, beta and the mean of
each loss term since the previous row. Every process keeps those sums; only the main process
writes. The sums are saved in checkpoints (log_sums), so a resumed run writes the rows an
uninterrupted one would; rows a killed run logged after its last checkpoint are dropped on
resume, to be written again.
"""

from __future__ import annotations

import csv
from pathlib import Path

from tqdm import tqdm

LOG_CSV, EVAL_CSV, TENSORBOARD = "log.csv", "eval.csv", "tb"


class RunLog:
    def __init__(self, out_dir: Path, *, steps: int, log_every: int, step: int,
                 sums: dict | None = None, main: bool = True, progress: bool = True,
                 desc: str = "train", writer=None):
        self.out_dir, self.steps, self.log_every, self.main = out_dir, steps, log_every, main
        self.sums: dict[str, float] = dict(sums or {})  # loss terms summed since the last row
        self.writer = writer  # TensorBoard SummaryWriter (main process)
        self.bar = tqdm(total=steps, initial=step, desc=desc, disable=not (progress and main),
                        dynamic_ncols=True)

    @classmethod
    def open(cls, out_dir: Path, *, step: int, resumed: bool, main: bool = True,
             **kw) -> RunLog:
        """Make the run folder and the TensorBoard writer (main process); a resumed run drops
        the rows after `step`. OSError when the folder cannot be written."""
        writer = None
        if main:
            out_dir.mkdir(parents=True, exist_ok=True)
            if resumed:
                for name in (LOG_CSV, EVAL_CSV):
                    drop_csv_rows_after(out_dir / name, step)
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out_dir / TENSORBOARD))
        return cls(out_dir, step=step, main=main, writer=writer, **kw)

    def step(self, step: int, terms: dict, lr: float, beta: float) -> dict | None:
        """Add completed step `step`'s loss terms (tensors); at a row, the row (also written
        by the main process), else None."""
        for k, v in terms.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v.detach())
        self.bar.update(1)
        if step % self.log_every and step != self.steps:
            return None
        count = (step - 1) % self.log_every + 1
        row = {"step": step, "lr": lr, "beta": beta, **{k: v / count for k, v in self.sums.items()}}
        self.sums.clear()
        if self.main:
            self.bar.set_postfix(loss=f"{row['total']:.4g}", lr=f"{row['lr']:.1e}")
            append_csv(self.out_dir / LOG_CSV, row)
            for k, v in row.items():
                if k != "step":
                    self.writer.add_scalar(f"train/{k}", v, step)
        return row

    def eval(self, step: int, summary: dict) -> None:
        """An evaluation's summary: TensorBoard and a row of eval.csv (main process)."""
        if not self.main:
            return
        for k, v in summary.items():
            self.writer.add_scalar(f"eval/{k}", v, step)
        append_csv(self.out_dir / EVAL_CSV, {"step": step, **summary})

    def write(self, message: str) -> None:
        """A line that does not break the progress bar."""
        self.bar.write(message)

    def close_bar(self) -> None:
        self.bar.close()

    def close(self) -> None:
        self.bar.close()
        if self.writer is not None:
            self.writer.close()


def append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def drop_csv_rows_after(path: Path, step: int) -> int:
    """Remove the rows of a log CSV (first column "step") whose step is above `step`; returns
    how many were removed. A missing file is fine."""
    if not path.is_file():
        return 0
    lines = path.read_text().splitlines(keepends=True)
    keep = lines[:1] + [ln for ln in lines[1:] if int(float(ln.split(",", 1)[0])) <= step]
    if len(keep) != len(lines):
        path.write_text("".join(keep))
    return len(lines) - len(keep)
