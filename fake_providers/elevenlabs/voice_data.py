"""The voice library of the fake ElevenLabs: the voices every account can use.

ElevenLabs' premade (default) voices with the labels ElevenLabs publishes in its voice list
(``GET /v1/voices``), then Arabic-native professional voices from its public Voice Library
(accent ``msa``: Modern Standard Arabic). Public facts only; an empty field is one no public
listing settles. ``preview_url`` is ElevenLabs' public sample where there is one.
"""

from __future__ import annotations

from typing import Any

PREVIEW_URL = (
    "https://storage.googleapis.com/eleven-public-prod/premade/voices/{voice_id}/{sample}.mp3"
)
FIELDS = ("voice_id", "name", "category", "gender", "accent", "age", "description", "use_case")

# One voice a line: the FIELDS, then its languages (ISO 639-1, comma-separated), by "|".
_TABLE = """
9BWtsMINqrJLrRacOk9x|Aria|premade|female|american|middle_aged|expressive|social media|en
CwhRBWXzGAHq8TQ4Fs17|Roger|premade|male|american|middle_aged|confident|social media|en
EXAVITQu4vr4xnSDxMaL|Sarah|premade|female|american|young|soft|news|en
FGY2WhTYpPnrIDTdsKH5|Laura|premade|female|american|young|upbeat|social media|en
IKne3meq5aSn9XLyUdCD|Charlie|premade|male|australian|middle_aged|natural|conversational|en
JBFqnCBsd6RMkjVDRZzb|George|premade|male|british|middle_aged|warm|narration|en
N2lVS1w4EtoT3dr4eOWO|Callum|premade|male|transatlantic|middle_aged|intense|characters|en
SAz9YHcvj6GT2YYXdXww|River|premade|neutral|american|middle_aged|confident|social media|en
TX3LPaxmHKxFdv7VOQHJ|Liam|premade|male|american|young|articulate|narration|en
XB0fDUnXU5powFXDhCwa|Charlotte|premade|female|swedish|young|seductive|characters|en
Xb7hH8MSUJpSbSDYk0k2|Alice|premade|female|british|middle_aged|confident|news|en
XrExE9yKIg1WjnnlVkGX|Matilda|premade|female|american|middle_aged|friendly|narration|en
bIHbv24MWmeRgasZH58o|Will|premade|male|american|young|friendly|social media|en
cgSgspJ2msm6clMCkdW9|Jessica|premade|female|american|young|expressive|conversational|en
cjVigY5qzO86Huf0OWal|Eric|premade|male|american|middle_aged|friendly|conversational|en
iP95p4xoKVk53GoZ742B|Chris|premade|male|american|middle_aged|casual|conversational|en
nPczCjzI2devNBz1zQrb|Brian|premade|male|american|middle_aged|deep|narration|en
onwK4e9ZLuTAKqWW03F9|Daniel|premade|male|british|middle_aged|authoritative|news|en
pFZP5JQG7iQjIQuC4Bku|Lily|premade|female|british|middle_aged|warm|narration|en
pqHfZKP75CvOlQylNhV4|Bill|premade|male|american|old|trustworthy|narration|en
21m00Tcm4TlvDq8ikWAM|Rachel|premade|female|american|young|calm|narration|en
29vD33N1CtxCmqQRPOHJ|Drew|premade|male|american|middle_aged|well-rounded|news|en
2EiwWnXFnvU5JabPnv8n|Clyde|premade|male|american|middle_aged|war veteran|characters|en
5Q0t7uMcjvnagumLfvZi|Paul|premade|male|american|middle_aged|ground reporter|news|en
AZnzlk1XvdvUeBnXmlld|Domi|premade|female|american|young|strong||en
CYw3kZ02Hs0563khs1Fj|Dave|premade|male|british-essex|young|conversational||en
D38z5RcWu1voky8WS1ja|Fin|premade|male|irish|old|sailor||en
GBv7mTt0atIp3Br8iCZE|Thomas|premade|male|american|young|calm||en
LcfcDJNUP1GQjkzn1xUU|Emily|premade|female|american|young|calm||en
MF3mGyEYCl7XYWbV9V6O|Elli|premade|female|american|young|emotional||en
ODq5zmih8GrVes37Dizd|Patrick|premade|male|american|middle_aged|shouty||en
SOYHLrjzK2X1ezoPC6cr|Harry|premade|male|american|young|anxious||en
ThT5KcBeYPX3keUQqHPh|Dorothy|premade|female|british|young|pleasant|children's stories|en
TxGEqnHWrfWFTfGW9XjX|Josh|premade|male|american|young|deep||en
VR6AewLTigWG4xSOukaG|Arnold|premade|male|american|middle_aged|crisp||en
ZQe5CZNOzWyzPSCn5a3c|James|premade|male|australian|old|calm|news|en
Zlb1dXrM653N07WRdFW3|Joseph|premade|male|british|middle_aged|ground reporter|news|en
bVMeCyTHy58xNoL34h3p|Jeremy|premade|male|american-irish|young|excited||en
flq6f7yk4E4fJM5XTYuZ|Michael|premade|male|american|old|orotund|audiobook|en
g5CIjZEefAph4nQFvHAz|Ethan|premade|male|american|young|whisper|asmr|en
jBpfuIE2acCO8z3wKNLl|Gigi|premade|female|american|young|childish|animation|en
jsCqWAovK2LkecY7zXl4|Freya|premade|female|american|young|overhyped|video games|en
oWAxZDx7w5VEj9dCyTzz|Grace|premade|female|american-southern|young|gentle|audiobook|en
pMsXgVXv3BLzUgSXRplE|Serena|premade|female|american|middle_aged|pleasant|interactive|en
pNInz6obpgDQGcFmaJgB|Adam|premade|male|american|middle_aged|deep|narration|en
piTKgcLEGmPE4e6mEKli|Nicole|premade|female|american|young|whisper|audiobook|en
t0jbNlBVZ17f02VDIeMI|Jessie|premade|male|american|old|raspy|video games|en
yoZ06aMxZJJ28mfd3POQ|Sam|premade|male|american|young|raspy|narration|en
z9fAnlkpzviPz146aGWa|Glinda|premade|female|american|middle_aged|witch|video games|en
zcAOhNBS3c14rBihAFp1|Giovanni|premade|male|english-italian|young|foreigner|audiobook|en
zrHiDhphv9ZnVXBqCLjz|Mimi|premade|female|english-swedish|young|childish|animation|en
G1HOkzin3NMwRHSq60UI|Chaouki|professional|male|msa||deep||ar
kERwN6X2cY8g1XbfzJsX|Mourad Sami|professional|male|msa||calm||ar
R6nda3uM038xEEKi7GFl|Anas|professional|male|msa||calm||ar
JjTirzdD7T3GMLkwdd3a|HMIDA|professional|male|msa||||ar
Qp2PG6sgef1EHtrNQKnf|Mohamed Ben|professional|male|msa||||ar
qi4PkV9c01kb869Vh7Su|Asmaa|professional|female|msa|young|gentle|conversational|ar
u0TsaWvt0v8migutHM3M|Ghizlane|professional|female|msa||calm||ar
VwC51uc4PUblWEJSPzeo|Abrar Sabbah|professional|female|msa||||ar
tavIIPLplRB883FzWU0V|Mona|professional|female|msa||||ar
mRdG9GYEjJmIzqbYTidv|Sana|professional|female|msa||||ar
"""

# The sample ids of the preview_url of the voices that have one.
_PREVIEW_SAMPLES = {
    "9BWtsMINqrJLrRacOk9x": "405766b8-1f4e-4d3c-aba1-6f25333823ec",
    "CwhRBWXzGAHq8TQ4Fs17": "58ee3ff5-f6f2-4628-93b8-e38eb31806b0",
    "EXAVITQu4vr4xnSDxMaL": "01a3e33c-6e99-4ee7-8543-ff2216a32186",
    "FGY2WhTYpPnrIDTdsKH5": "67341759-ad08-41a5-be6e-de12fe448618",
    "IKne3meq5aSn9XLyUdCD": "102de6f2-22ed-43e0-a1f1-111fa75c5481",
    "JBFqnCBsd6RMkjVDRZzb": "e6206d1a-0721-4787-aafb-06a6e705cac5",
    "N2lVS1w4EtoT3dr4eOWO": "ac833bd8-ffda-4938-9ebc-b0f99ca25481",
    "SAz9YHcvj6GT2YYXdXww": "e6c95f0b-2227-491a-b3d7-2249240decb7",
    "TX3LPaxmHKxFdv7VOQHJ": "63148076-6363-42db-aea8-31424308b92c",
    "XB0fDUnXU5powFXDhCwa": "942356dc-f10d-4d89-bda5-4f8505ee038b",
    "Xb7hH8MSUJpSbSDYk0k2": "d10f7534-11f6-41fe-a012-2de1e482d336",
    "XrExE9yKIg1WjnnlVkGX": "b930e18d-6b4d-466e-bab2-0ae97c6d8535",
    "bIHbv24MWmeRgasZH58o": "8caf8f3d-ad29-4980-af41-53f20c72d7a4",
    "cgSgspJ2msm6clMCkdW9": "56a97bf8-b69b-448f-846c-c3a11683d45a",
    "cjVigY5qzO86Huf0OWal": "d098fda0-6456-4030-b3d8-63aa048c9070",
    "iP95p4xoKVk53GoZ742B": "3f4bde72-cc48-40dd-829f-57fbf906f4d7",
    "nPczCjzI2devNBz1zQrb": "2dd3e72c-4fd3-42f1-93ea-abc5d4e5aa1d",
    "onwK4e9ZLuTAKqWW03F9": "7eee0236-1a72-4b86-b303-5dcadc007ba9",
    "pFZP5JQG7iQjIQuC4Bku": "89b68b35-b3dd-4348-a84a-a3c13a3c2b30",
    "pqHfZKP75CvOlQylNhV4": "d782b3ff-84ba-4029-848c-acf01285524d",
}


def library_voices() -> list[dict[str, Any]]:
    """The library, in order, as new dicts (``voice_id``, ``name``, ``category``, the labels,
    ``languages`` and ``preview_url``)."""
    voices: list[dict[str, Any]] = []
    for line in _TABLE.strip().splitlines():
        *values, languages = line.split("|")
        voice: dict[str, Any] = {k: v or None for k, v in zip(FIELDS, values, strict=True)}
        voice["languages"] = languages.split(",")
        sample = _PREVIEW_SAMPLES.get(voice["voice_id"])
        voice["preview_url"] = sample and PREVIEW_URL.format(
            voice_id=voice["voice_id"], sample=sample
        )
        voices.append(voice)
    return voices
