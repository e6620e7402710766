#!/usr/bin/python3
"""bench/quality.py: does dwc.text_quality() rank human prose above word salad and template
filler? A labelled sample, scored, ranked, and measured.

The sample (30 texts, 10 of each class):
  - human: passages of public-domain prose (Lincoln, Jefferson, Austen, Dickens, Melville,
    Darwin, Thoreau, Franklin, Twain, Mary Shelley), as people wrote them;
  - salad: the content words of each human passage (its stopwords dropped), shuffled: the
    keyword salad that covers a prompt's keywords without saying anything;
  - filler: 6 documents of the builtin provider (template text) on writers' prompts, and 4
    paragraphs of stock phrases, written for this sample.
Prints each text's score and class, best first, then per class the mean, and the share of
(human, other) pairs that the score orders right (1.0: every human passage above every other
text), with the same for the score before issue 21 (the mean of readability, length,
coverage and 1 - repetition, recomputed from the components text_quality still returns).

Run as root or as a user who can start PostgreSQL: uses the installed dwc.
    bench/quality.py
"""
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "kit"))

from cluster import temp_cluster  # noqa: E402

DB = "bench"

HUMAN = {
    "lincoln": "Four score and seven years ago our fathers brought forth on this continent, a new nation, "
               "conceived in Liberty, and dedicated to the proposition that all men are created equal. Now we are "
               "engaged in a great civil war, testing whether that nation, or any nation so conceived and so "
               "dedicated, can long endure. We are met on a great battle-field of that war. We have come to "
               "dedicate a portion of that field, as a final resting place for those who here gave their lives that "
               "that nation might live. It is altogether fitting and proper that we should do this.",
    "jefferson": "When in the Course of human events, it becomes necessary for one people to dissolve the political "
                 "bands which have connected them with another, and to assume among the powers of the earth, the "
                 "separate and equal station to which the Laws of Nature and of Nature's God entitle them, a decent "
                 "respect to the opinions of mankind requires that they should declare the causes which impel them "
                 "to the separation. We hold these truths to be self-evident, that all men are created equal.",
    "austen": "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in "
              "want of a wife. However little known the feelings or views of such a man may be on his first entering "
              "a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is "
              "considered the rightful property of some one or other of their daughters. \"My dear Mr. Bennet,\" said "
              "his lady to him one day, \"have you heard that Netherfield Park is let at last?\" Mr. Bennet replied "
              "that he had not.",
    "dickens": "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
               "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, "
               "it was the season of Darkness. There were a king with a large jaw and a queen with a plain face, on "
               "the throne of England; there were a king with a large jaw and a queen with a fair face, on the throne "
               "of France. It was the year of Our Lord one thousand seven hundred and seventy-five.",
    "melville": "Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my "
                "purse, and nothing particular to interest me on shore, I thought I would sail about a little and see "
                "the watery part of the world. It is a way I have of driving off the spleen and regulating the "
                "circulation. Whenever I find myself growing grim about the mouth, I account it high time to get to "
                "sea as soon as I can.",
    "darwin": "It is interesting to contemplate an entangled bank, clothed with many plants of many kinds, with birds "
              "singing on the bushes, with various insects flitting about, and with worms crawling through the damp "
              "earth, and to reflect that these elaborately constructed forms, so different from each other, and "
              "dependent on each other in so complex a manner, have all been produced by laws acting around us. "
              "There is grandeur in this view of life.",
    "thoreau": "I went to the woods because I wished to live deliberately, to front only the essential facts of "
               "life, and see if I could not learn what it had to teach, and not, when I came to die, discover that I "
               "had not lived. I did not wish to live what was not life, living is so dear. I wanted to live deep and "
               "suck out all the marrow of life. My house stood on the shore of Walden Pond, a mile and a half from "
               "the village of Concord.",
    "franklin": "I had been religiously educated as a Presbyterian. I never was without some religious principles. "
                "In 1723 I came to Philadelphia with one Dutch dollar and about a shilling in copper. I walked up "
                "Market Street with a roll under each arm, eating the third, and passed by the door of Mr. Read, "
                "whose daughter, my future wife, saw me and thought I made a most awkward, ridiculous appearance.",
    "twain": "The Mississippi is well worth reading about. It is not a commonplace river, but on the contrary is in "
             "all ways remarkable. Considering the Missouri its main branch, it is the longest river in the world, "
             "four thousand three hundred miles. It seems safe to say that it is also the crookedest river in the "
             "world, since in one part of its journey it uses up one thousand three hundred miles to cover the same "
             "ground that the crow would fly over in six hundred and seventy-five.",
    "shelley": "It was on a dreary night of November that I beheld the accomplishment of my toils. With an anxiety "
               "that almost amounted to agony, I collected the instruments of life around me, that I might infuse a "
               "spark of being into the lifeless thing that lay at my feet. It was already one in the morning; the "
               "rain pattered dismally against the panes, and my candle was nearly burnt out.",
}

FILLER_WRITTEN = [
    "In today's fast-paced world, gardening plays a crucial role in our lives. It is important to note that a "
    "wide range of factors come into play when it comes to growing vegetables. First and foremost, planning is "
    "key. Last but not least, patience is a testament to success. In conclusion, gardening is a journey.",
    "When it comes to personal finance, it is worth noting that budgeting plays a vital role. Harness the power "
    "of saving to unlock the potential of your future. A wide range of tools can help you navigate the "
    "complexities of money. At the end of the day, financial health is a testament to good habits.",
    "Artificial intelligence is a game-changer in the realm of business. Companies that delve into cutting-edge "
    "solutions are paving the way for an ever-evolving future. It goes without saying that seamlessly "
    "integrating technology plays a key role. Needless to say, the possibilities are endless.",
    "Travel broadens the mind in a wide range of ways. It is important to note that planning plays a crucial "
    "role. When it comes to packing, first and foremost, bring essentials. In today's world, travel is a "
    "testament to curiosity. In conclusion, the journey matters as much as the destination.",
]

FILLER_PROMPTS = [
    "Write an introduction to rooftop solar panels for homeowners.",
    "Explain how to plan a vegetable garden in a small yard.",
    "Describe the history of the printing press.",
    "Give advice on preparing for a job interview.",
    "Explain how vaccines train the immune system.",
    "Write about the causes of the French Revolution.",
]


def salad(text, seed):
    import re
    words = re.findall(r"[A-Za-z'-]+", text)
    stop = set("a an and are as at be but by for from had has have he her his i in is it its me my no not of "
               "on or our so some that the their them there these they this to was we were what when which who "
               "with would you".split())
    content = [w.lower() for w in words if w.lower() not in stop]
    random.Random(seed).shuffle(content)
    return " ".join(content)


def old_score(q):
    return 100.0 * (q["readability"] + q["length"] + q["coverage"] + (1 - q["repetition"])) / 4


def ordered_share(scores, labels, other):
    """Share of (human, other) pairs with the human text scored higher (ties count half)."""
    h = [s for s, l in zip(scores, labels) if l == "human"]
    o = [s for s, l in zip(scores, labels) if l == other]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in h for b in o)
    return wins / (len(h) * len(o))


def main():
    c = temp_cluster(prefix="dwc-bench-quality-", port=5594,
                     settings={"dwc.databases": "'%s'" % DB, "dwc.job_workers": "1"}).init().start()
    try:
        c.create_database(DB)
        conn = c.connect(DB)
        cur = conn.cursor()
        sample = []
        for i, (k, t) in enumerate(HUMAN.items()):
            sample.append(("human", k, t))
            sample.append(("salad", k + " (salad)", salad(t, i)))
        for i, p in enumerate(FILLER_PROMPTS):
            cur.execute("SELECT dwc.ai_generate(%s, provider => 'builtin') ->> 'text'", (p,))
            sample.append(("filler", "builtin: " + p[:40], cur.fetchone()[0]))
        for i, t in enumerate(FILLER_WRITTEN):
            sample.append(("filler", "stock phrases %d" % (i + 1), t))
        rows = []
        for label, name, text in sample:
            cur.execute("SELECT dwc.text_quality(%s)", (text,))
            q = cur.fetchone()[0]
            rows.append((q["score"], old_score(q), label, name, q))
        rows.sort(key=lambda r: -r[0])
        print("dwc.text_quality() on a labelled sample of 30 texts, best first (without a reference):")
        print("  %-6s %-6s  %-7s %s" % ("score", "before", "class", "text"))
        for s, o, label, name, q in rows:
            print("  %6.1f %6.1f  %-7s %s" % (s, o, label, name))
        scores = [r[0] for r in rows]
        olds = [r[1] for r in rows]
        labels = [r[2] for r in rows]
        print("\nper class: mean score now (before)")
        for cls in ("human", "filler", "salad"):
            now = [s for s, l in zip(scores, labels) if l == cls]
            was = [s for s, l in zip(olds, labels) if l == cls]
            print("  %-7s %6.1f (%6.1f)" % (cls, sum(now) / len(now), sum(was) / len(was)))
        print("\nshare of pairs with the human text above (1.0: all): now (before)")
        for other in ("salad", "filler"):
            print("  human > %-7s %.3f (%.3f)" % (other, ordered_share(scores, labels, other),
                                                ordered_share(olds, labels, other)))
        conn.close()
    finally:
        c.destroy()


if __name__ == "__main__":
    main()
