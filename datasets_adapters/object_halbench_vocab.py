"""Object HalBench's object vocabulary, as RLHF-V's `eval/eval_gpt_obj_halbench.py` builds it
(RLHF-V/RLHF-V at 8daac8a, code Apache-2.0 per its readme's "Licenses" section): the synonym
table `eval/data/synonyms_refine.txt` (copied below byte for byte; a refined copy of CHAIR's
synonyms.txt: no leading empty line, no double spaces, "brother", "coffee table", "remote
control" added), every synonym of two words or more as a double word plus 'home plate' and
'train track', the baby/adult animal and passenger jet/train rules, bow tie -> tie, toilet seat
-> toilet, "wine glas" -> wine glass, and "seat" dropped when "toilet" is in the caption.

Its text pipeline differs from OPERA's (evalkit/scoring/chair.py, ChairVocabulary): no POS
tagging (`lemma.lemmatize(w)`, noun lemmas) and synonym entries stripped.
"""

from __future__ import annotations

from evalkit.scoring.chair import ChairVocabulary

# RLHF-V's eval/data/synonyms_refine.txt, byte for byte (tests/unit/test_object_halbench_parity.py
# compares it with the official file).
SYNONYMS_REFINE = '''\
person, girl, boy, man, woman, kid, child, chef, baker, people, adult, rider, children, baby, worker, passenger, sister, brother, biker, policeman, cop, officer, lady, cowboy, bride, groom, male, female, guy, traveler, mother, father, gentleman, pitcher, player, skier, snowboarder, skater, skateboarder, guy, foreigner, child, gentleman, caller, offender, coworker, trespasser, patient, politician, soldier, grandchild, serviceman, walker, drinker, doctor, bicyclist, thief, buyer, teenager, student, camper, driver, solider, hunter, shopper, villager, pedestrian
bicycle, bike, unicycle, minibike, trike
car, automobile, van, minivan, sedan, suv, hatchback, cab, jeep, coupe, taxicab, limo, taxi
motorcycle, scooter, motor bike, motor cycle, motorbike, scooter, moped
airplane, jetliner, plane, air plane, monoplane, aircraft, jet, jetliner, airbus, biplane, seaplane
bus, minibus, trolley
train, locomotive, tramway, caboose
truck, pickup, lorry, hauler, firetruck
boat, ship, liner, sailboat, motorboat, dinghy, powerboat, speedboat, canoe, skiff, yacht, kayak, catamaran, pontoon, houseboat, vessel, rowboat, trawler, ferryboat, watercraft, tugboat, schooner, barge, ferry, sailboard, paddleboat, lifeboat, freighter, steamboat, riverboat, battleship, steamship
traffic light, street light, traffic signal, stop light, streetlight, stoplight
fire hydrant, hydrant
stop sign
parking meter
bench, pew
bird, ostrich, owl, seagull, goose, duck, parakeet, falcon, robin, pelican, waterfowl, heron, hummingbird, mallard, finch, pigeon, sparrow, seabird, osprey, blackbird, fowl, shorebird, woodpecker, egret, chickadee, quail, bluebird, kingfisher, buzzard, willet, gull, swan, bluejay, flamingo, cormorant, parrot, loon, gosling, waterbird, pheasant, rooster, sandpiper, crow, raven, turkey, oriole, cowbird, warbler, magpie, peacock, cockatiel, lorikeet, puffin, vulture, condor, macaw, peafowl, cockatoo, songbird
cat, kitten, feline, tabby
dog, puppy, beagle, pup, chihuahua, schnauzer, dachshund, rottweiler, canine, pitbull, collie, pug, terrier, poodle, labrador, doggie, doberman, mutt, doggy, spaniel, bulldog, sheepdog, weimaraner, corgi, cocker, greyhound, retriever, brindle, hound, whippet, husky
horse, colt, pony, racehorse, stallion, equine, mare, foal, palomino, mustang, clydesdale, bronc, bronco
sheep, lamb, ram, lamb, goat, ewe
cow, cattle, oxen, ox, calf, cattle, holstein, heifer, buffalo, bull, zebu, bison
elephant
bear, panda
zebra
giraffe
backpack, knapsack
umbrella
handbag, wallet, purse, briefcase
tie, bow, bow tie
suitcase, suit case, luggage
frisbee
skis, ski
snowboard
sports ball, ball
kite
baseball bat
baseball glove
skateboard
surfboard, longboard, skimboard, shortboard, wakeboard
tennis racket, racket
bottle
wine glass
cup
fork
knife, pocketknife, knive
spoon
bowl, container
banana
apple
sandwich, burger, sub, cheeseburger, hamburger
orange
broccoli
carrot
hot dog
pizza
donut, doughnut, bagel
cake, cheesecake, cupcake, shortcake, coffeecake, pancake
chair, seat, stool
couch, sofa, recliner, futon, loveseat, settee, chesterfield
potted plant, houseplant
bed
dining table, table, desk, coffee table
toilet, urinal, commode, toilet, lavatory, potty
tv, monitor, televison, television
laptop, computer, notebook, netbook, lenovo, macbook, laptop computer
mouse
remote, remote control
keyboard
cell phone, mobile phone, phone, cellphone, telephone, phon, smartphone, iPhone
microwave
oven, stovetop, stove, stove top oven
toaster
sink
refrigerator, fridge, fridge, freezer
book
clock
vase
scissors
teddy bear, teddybear
hair drier, hairdryer
toothbrush
'''

EXTRA_DOUBLE_WORDS = ['home plate', 'train track']
ANIMAL_WORDS = ['bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'animal',
                'cub']
VEHICLE_WORDS = ['jet', 'train']


def _double_word_dict(inverse: dict[str, str]) -> dict[str, str]:
    """RLHF-V's CHAIR.double_word_dict, built in its order (later assignments win)."""
    out = {w: w for w in [w for w in inverse if len(w.strip().split(' ')) >= 2] + EXTRA_DOUBLE_WORDS}
    for animal in ANIMAL_WORDS:
        out[f"baby {animal}"] = animal
        out[f"adult {animal}"] = animal
    for vehicle in VEHICLE_WORDS:
        out[f"passenger {vehicle}"] = vehicle
    out["bow tie"] = "tie"
    out["toilet seat"] = "toilet"
    out["wine glas"] = "wine glass"
    return out


_SYNONYMS_ONLY = ChairVocabulary(SYNONYMS_REFINE, pos_tagged=False, strip_entries=True)
OBJHAL_VOCABULARY = ChairVocabulary(SYNONYMS_REFINE, _double_word_dict(_SYNONYMS_ONLY.inverse),
                                    drop_when=(("toilet", "seat"),), pos_tagged=False, strip_entries=True)
