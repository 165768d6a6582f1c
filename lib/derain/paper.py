"""The numbers Cho et al. (TIP 2020) report, kept in one place so that every table
can show them beside this book's results, always labelled as the paper's. Nothing
here is a result of this book.

Scores are (PSNR dB, SSIM); Tables VI and VII are on the paper's real test set
(SPANet's), Table V on the synthetic test sets named by their source.
"""

from __future__ import annotations

# Table VI: which loss terms, and the dynamic fusion ("Dyn.") or concatenation.
TABLE6 = [
    {"row": "Lr+Lb", "terms": ("r", "b"), "dynamic": False, "paper": (37.68, 0.981)},
    {"row": "Lr+Lb+Ls", "terms": ("r", "b", "s"), "dynamic": False,
     "paper": (37.92, 0.985)},
    {"row": "Lb+Ls+Lv", "terms": ("b", "s", "v"), "dynamic": False,
     "paper": (38.01, 0.986)},
    {"row": "Lr+Lb+Ls+Lv", "terms": ("r", "b", "s", "v"), "dynamic": False,
     "paper": (38.11, 0.986)},
    {"row": "Lr+Lb+Ls+Dyn", "terms": ("r", "b", "s"), "dynamic": True,
     "paper": (38.29, 0.987)},
    {"row": "Lb+Ls+Lv+Dyn", "terms": ("b", "s", "v"), "dynamic": True,
     "paper": (38.46, 0.988)},
    {"row": "Lr+Lb+Ls+Lv+Dyn", "terms": ("r", "b", "s", "v"), "dynamic": True,
     "paper": (38.54, 0.989)},
]

# Table VII: fusion of the three encoders' features.
TABLE7 = {"sum": (37.98, 0.983), "product": (38.02, 0.984),
          "concat": (38.11, 0.986), "dynamic": (38.54, 0.989)}

# Table V: ours, PReNet and SPANet on the synthetic test sets.
TABLE5 = {
    "ours": {"DDN": (33.73, 0.94), "Rain100L": (37.89, 0.98), "DID": (33.25, 0.93)},
    "PReNet": {"DDN": (32.55, 0.94), "Rain100L": (37.35, 0.97),
               "DID": (31.20, 0.90)},
    "SPANet": {"DDN": (29.76, 0.90), "Rain100L": (34.46, 0.96),
               "DID": (28.76, 0.90)},
}

# Table III: training pairs of each data set.
TABLE3 = {"DDN": 14000, "CGAN": 1300, "JORDER": 2200, "DID": 13200,
          "SPANet": 29500, "Cho et al. time-lapse": 80910}

# Sec. IV-A: the time-lapse set.
SCENES, FRAMES_PER_SCENE = 186, 30

# The paper's claims this book tests, each with the item it rests on. Every
# chapter's claims table tags the row that decides one of them with its key; the
# last chapter gathers one verdict per claim.
CLAIMS = {
    "C1": ("adding the structure similarity loss L_s to L_r + L_b improves the "
           "result", "Table VI, rows 1-2"),
    "C2": ("adding the directional gradient loss L_v improves the result",
           "Table VI, rows 5 and 7"),
    "C3": ("adding the reconstruction loss L_r improves the result",
           "Table VI, rows 6-7"),
    "C4": ("with m = n in L_s the network learns not to remove rain",
           "Sec. III-B, text"),
    "C5": ("L_r is close to 0 after 10 % of training", "Sec. III-B, text"),
    "C6": ("dynamic fusion beats concatenation", "Tables VI-VII"),
    "C7": ("dynamic fusion beats element-wise sum and product (the better of the "
           "two)", "Table VII"),
    "C8": ("the network trained with r frames beats time-averaging of r frames, "
           "most clearly for small r", "Figs. 13-14"),
    "C9": ("the network improves with more frames per scene r", "Fig. 14"),
    "C10": ("time-lapse training beats supervision by time-averaged pseudo "
            "ground truth", "Fig. 14"),
    "C11": ("a smaller network (kernels 1/3/5, fewer channels) costs only a "
            "marginal drop", "Fig. 17"),
    "C12": ("the method beats SPANet and PReNet", "Table V"),
}
