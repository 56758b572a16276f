"""Tiny COCO-format annotation files (instances_ and captions_ of train2014 and val2014) for CHAIR tests."""

from __future__ import annotations

import json
from pathlib import Path

CATEGORIES = [(1, "person"), (2, "bicycle"), (4, "motorcycle"), (5, "airplane"), (7, "train"), (16, "bird"),
              (17, "cat"), (18, "dog"), (22, "elephant"), (32, "tie"), (46, "wine glass"), (52, "banana"),
              (61, "cake"), (62, "chair"), (67, "dining table"), (70, "toilet"), (72, "tv"), (77, "cell phone"),
              (88, "teddy bear"), (6, "bus")]
# image id -> (instance categories, reference captions)
TRUTH = {
    1: ([18, 1], ["A man walks two dogs along the street.", "Dogs and their owner."]),
    2: ([16], ["A baby bird sits on a branch."]),
    3: ([5], ["Two passenger jets fly over the runway."]),
    4: ([70], ["The seat of the toilet is up.", "A white toilet seat."]),
    5: ([32, 1], ["A man wearing a bow tie."]),
    6: ([46, 67], ["Wine glasses on a dining table."]),
    7: ([], ["An empty street at night."]),
    8: ([22], ["An adult elephant and a baby elephant."]),
    9: ([7, 6], ["A passenger train next to the buses."]),
    10: ([88, 77], ["A teddy bear next to a cell phone."]),
}


def write_coco(folder: Path, truth=TRUTH) -> Path:
    """instances_/captions_{train,val}2014.json: odd ids in val, even ids in train (OPERA merges both)."""
    folder.mkdir(parents=True, exist_ok=True)
    categories = [{"id": i, "name": n, "supercategory": "x"} for i, n in CATEGORIES]
    for split, parity in (("val", 1), ("train", 0)):
        ids = [i for i in truth if i % 2 == parity]
        images = [{"id": i, "file_name": f"COCO_{split}2014_{i:012d}.jpg"} for i in ids]
        instances = [{"id": 1000 * i + k, "image_id": i, "category_id": c} for i in ids for k, c in enumerate(truth[i][0])]
        captions = [{"id": 1000 * i + k, "image_id": i, "caption": c} for i in ids for k, c in enumerate(truth[i][1])]
        base = {"info": {}, "licenses": [], "images": images}
        (folder / f"instances_{split}2014.json").write_text(json.dumps({**base, "categories": categories,
                                                                         "annotations": instances}))
        (folder / f"captions_{split}2014.json").write_text(json.dumps({**base, "annotations": captions}))
    return folder
