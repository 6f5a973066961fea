"""joytrain: train and apply logistic-regression flow classifiers on joy's features.

    from joytrain import model as jtm
    m = jtm.train(pos_records, neg_records)     # records: dicts from joy JSON lines
    m.save("bulk.model")
    p = jtm.load("bulk.model").score(record)    # == the meter's p_malware (classify=1)

features.py is the feature definition (doc/modules/classify.md), identical
to src/modules/mod_classify.c; model.py trains, saves, loads and scores;
cli.py is the joy-train command; data.py reads joy output and captures.
"""
__version__ = "1.0"
