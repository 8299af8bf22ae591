"""The experiment's held-out rates at fixed thresholds, A (as written) against B (+ naming rows)."""
import pickle, numpy as np
from qa.training import train as T
rows = pickle.load(open('artifacts/naming/rows.pkl','rb'))
z = np.load('artifacts/naming/oof.npz')
named = z['named']; q = z['q']
V = ['lacks_amount','lacks_time','other_in_slot','stand_in','unmentioned']
for m in 'AB':
    out = T.questions(rows, q, z[m])
    def rate(th, kind, nm, answered=True):
        sel = [o for o, n in zip(out, named) if o['kind']==kind and n==nm]
        a = [T._answered(o, th, V) for o in sel]
        return np.mean(a) if answered else 1-np.mean(a)
    for th in (0.06, 0.07, 0.08, 0.09, 0.10, 0.11, 0.12, 0.14):
        print(m, th, "ans written %.4f named %.4f | abst ooc %.4f near %.4f unans %.4f | named ooc %.4f near %.4f" % (
            rate(th,'answerable',False), rate(th,'answerable',True), rate(th,'out_of_corpus',False,False),
            rate(th,'near_miss',False,False), rate(th,'unanswerable',False,False),
            rate(th,'out_of_corpus',True,False), rate(th,'near_miss',True,False)))
