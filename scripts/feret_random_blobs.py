"""Feret diameters: centrosome's antipodal walk (through cp_measure 0.3.0) against the
definitions (widest pixel pair; narrowest strip over the convex hull's edges), which
crates/cell-measure computes, on seeded random blobs. A one-off check behind docs/measure.md
(2026-12-03: 3,162 objects, none differing by more than 1e-9); not run in CI.

    pip install cp_measure==0.3.0
    python3 scripts/feret_random_blobs.py
"""
import numpy as np, scipy.ndimage as ndi
from cp_measure.core.measureobjectsizeshape import get_feret
from scipy.spatial import ConvexHull
rng=np.random.default_rng(0)
tot=bm=bx=0
for trial in range(40):
    img=ndi.gaussian_filter(rng.normal(size=(200,200)),3)
    lab,n=ndi.label(img>0.05)
    r=get_feret(lab,None)
    for k in range(1,n+1):
        pts=np.argwhere(lab==k).astype(float)
        if len(pts)<3 or np.linalg.matrix_rank(pts-pts[0])<2:
            mx=np.sqrt(((pts[:,None]-pts[None])**2).sum(-1)).max(); mn=0.0
        else:
            h=pts[ConvexHull(pts).vertices]
            mx=np.sqrt(((h[:,None]-h[None])**2).sum(-1)).max()
            mn=min(np.abs((h[(i+1)%len(h)][0]-h[i][0])*(h[i][1]-h[:,1])-(h[i][0]-h[:,0])*(h[(i+1)%len(h)][1]-h[i][1])).max()/np.hypot(*(h[(i+1)%len(h)]-h[i])) for i in range(len(h)))
        tot+=1
        if abs(mn-r["MinFeretDiameter"][k-1])>1e-9: bm+=1; ex=("min",len(pts),mn,r["MinFeretDiameter"][k-1])
        if abs(mx-r["MaxFeretDiameter"][k-1])>1e-9: bx+=1; ex=("max",len(pts),mx,r["MaxFeretDiameter"][k-1])
print(f"{tot} objects: {bm} minimum and {bx} maximum Feret diameters differ", ex if bm + bx else "")
