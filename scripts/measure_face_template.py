"""Measure where the eyes sit in the training faces, with the detectors cvae.data.align uses (its EYES_64 and
EYES_IN_BOX constants come from this):

    python scripts/measure_face_template.py [../shared/data/celebahq64/images] [400]

Each 64×64 CelebA-HQ face is upscaled 4× (Haar cascades need more than 64 pixels), searched for one face and two
eyes (the largest detection in each half of the box's upper 60%), and the eye centres are averaged, in pixels of
the 64×64 crop and as fractions of the face box. Printed on the first 400 faces: 337 with one face and two eyes,
eyes at (23.21, 30.23) and (40.05, 30.25), spread about 1 pixel.
"""
import sys

import cv2
import numpy as np
from PIL import Image
d = cv2.data.haarcascades
face = cv2.CascadeClassifier(d + "haarcascade_frontalface_default.xml")
eye = cv2.CascadeClassifier(d + "haarcascade_eye.xml")
found = []; boxes = []
folder = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/celebahq64/images"
count = int(sys.argv[2]) if len(sys.argv) > 2 else 400
for i in range(1, count + 1):
    img = np.asarray(Image.open(f"{folder}/{i}.jpg").convert("RGB"))
    big = cv2.resize(img, (256, 256), interpolation=cv2.INTER_CUBIC)
    grey = cv2.cvtColor(big, cv2.COLOR_RGB2GRAY)
    faces = face.detectMultiScale(grey, 1.1, 5, minSize=(60, 60))
    if len(faces) != 1: continue
    x, y, w, h = faces[0]
    roi = grey[y:y + int(h * 0.6), x:x + w]
    eyes = eye.detectMultiScale(roi, 1.1, 5, minSize=(w // 10, w // 10))
    left = [e for e in eyes if e[0] + e[2] / 2 < w / 2]; right = [e for e in eyes if e[0] + e[2] / 2 >= w / 2]
    if not left or not right: continue
    l = max(left, key=lambda e: e[2]); r = max(right, key=lambda e: e[2])
    lc = (x + l[0] + l[2] / 2, y + l[1] + l[3] / 2); rc = (x + r[0] + r[2] / 2, y + r[1] + r[3] / 2)
    found.append((*lc, *rc)); boxes.append((x, y, w, h))
f = np.array(found) / 4; b = np.array(boxes) / 4
print(len(found), "of", count, "with a face and two eyes")
print("eyes (64 px):", f.mean(0).round(2), "std", f.std(0).round(2))
print("face box (64 px):", b.mean(0).round(2), "std", b.std(0).round(2))
rel = np.stack([(f[:, 0] - b[:, 0]) / b[:, 2], (f[:, 1] - b[:, 1]) / b[:, 3], (f[:, 2] - b[:, 0]) / b[:, 2], (f[:, 3] - b[:, 1]) / b[:, 3]], 1)
print("eyes within face box:", rel.mean(0).round(3), "std", rel.std(0).round(3))
