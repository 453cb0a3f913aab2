"""Logistic regression: imputed, one-hot encoded and scaled columns into a logistic regression, the reference to beat."""

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.linear_model import LogisticRegression

CATEGORICAL = ["color", "acidity"]
NUMERIC = [
    "alcohol",
    "ash",
    "alcalinity_of_ash",
    "magnesium",
    "total_phenols",
    "flavanoids",
    "nonflavanoid_phenols",
    "proanthocyanins",
    "hue",
    "od280_od315",
    "proline",
]


def get_estimator():
    categorical = Pipeline([
        ("impute", SimpleImputer(strategy="most_frequent")),
        ("encode", OneHotEncoder(handle_unknown="ignore")),
    ])
    numeric = Pipeline([
        ("impute", SimpleImputer(strategy="median")),
        ("scale", StandardScaler()),
    ])
    preprocess = ColumnTransformer([
        ("categorical", categorical, CATEGORICAL),
        ("numeric", numeric, NUMERIC),
    ])
    return Pipeline([("preprocess", preprocess), ("classifier", LogisticRegression(max_iter=1000))])
