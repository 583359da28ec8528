"""A sheet of face models side by side: per checkpoint a row of 8 held-out reconstructions and a row of 8 prior
samples (seed 0) under those faces' attributes; with --no-real the held-out faces themselves are left out (data
set images are never committed).

    python scripts/face_sheet.py OUT.png CHECKPOINT... [--no-real]     # held-out faces from ../shared/data-full
"""
import sys, torch, numpy as np
sys.path.insert(0, '.')
from PIL import Image
from cvae.checkpoint import load_checkpoint
from cvae.data import load_dataset
from cvae.latent import encode_means
held = load_dataset("celeba", "../shared/data-full", "test")
x = held.images[:8].float() / 255; y = held.labels[:8].float()
rows = [] if "--no-real" in sys.argv else [x]
for path in [a for a in sys.argv[2:] if not a.startswith("--")]:
    m = load_checkpoint(path).model.float().eval()
    with torch.no_grad():
        z = encode_means(m, x, y)
        rows.append(m.decode(z, y).float())
        g = torch.Generator().manual_seed(0)
        rows.append(m.decode(torch.randn(8, m.latent_dim, generator=g), y).float())
grid = torch.cat([torch.cat(list(r), 2) for r in rows], 1)
img = (grid.clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
Image.fromarray(img).resize((img.shape[1] * 2, img.shape[0] * 2), Image.NEAREST).save(sys.argv[1])
