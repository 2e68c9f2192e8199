from django import forms

from streams.models import Channel


class ChannelSettingsForm(forms.ModelForm):
    class Meta:
        model = Channel
        fields = ["title", "category"]
        widgets = {"title": forms.TextInput(attrs={"placeholder": "What are you streaming today?"})}
