"""Trials and their responses (CCR, AB, ABX, SMOS), MUSHRA and transcription, and low-pass
anchors: listening 0005-0007 in one step.

Replaces those three migrations, which never shipped: a database that applied them all carries
on as it is. A database at 0004 (the shipped schema) runs this one, and its data step turns the
ACR playlists it has into trials (tests/listening/test_migration_trials.py).
"""

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


# Runs of one kind of operation, written as lists: the operations are the ones Django writes
# one by one, in the same order.
def _added(model_name, fields):
    return [migrations.AddField(model_name, name, field) for name, field in fields]


def _altered(model_name, fields):
    return [migrations.AlterField(model_name, name, field) for name, field in fields]


def _constraints_added(constraints):
    return [migrations.AddConstraint(model_name, constraint) for model_name, constraint in constraints]


def _constraints_removed(names):
    return [migrations.RemoveConstraint(model_name, name) for model_name, name in names]


def acr_trials_present_their_clip(apps, schema_editor):
    """Every trial made before trials existed is an ACR trial: it presents its one clip as the
    test clip, and its response's plays are that clip's plays. Nothing else changes, so ACR
    reports read exactly what they read before."""
    PlaylistItem = apps.get_model("listening", "PlaylistItem")
    TrialClip = apps.get_model("listening", "TrialClip")
    Rating = apps.get_model("listening", "Rating")
    batch = []
    for trial_id, clip_id in (
        PlaylistItem.objects.filter(clip__isnull=False).values_list("id", "clip_id").iterator()
    ):
        batch.append(TrialClip(trial_id=trial_id, position=0, role="test", clip_id=clip_id))
        if len(batch) >= 5000:
            TrialClip.objects.bulk_create(batch)
            batch = []
    TrialClip.objects.bulk_create(batch)
    for play_count in Rating.objects.values_list("play_count", flat=True).distinct():
        Rating.objects.filter(play_count=play_count).update(play_counts=[play_count])


class Migration(migrations.Migration):

    replaces = [
        ("listening", "0005_trials_and_responses"),
        ("listening", "0006_mushra_transcription"),
        ("listening", "0007_system_anchor_kind"),
    ]

    dependencies = [
        ('listening', '0001_squashed_0004_studies'),
        ('synthesis', '0001_squashed_0003_voice'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The old rules go first: the fields they read change below.
        *_constraints_removed([
            ('playlistitem', 'item_expected_score_range'),
            ('rating', 'rating_score_1_to_5'),
            ('system', 'system_anchor_has_source_and_q'),
        ]),
        migrations.CreateModel(
            name='TrialClip',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveSmallIntegerField(help_text='Order of play on the page.')),
                ('role', models.CharField(choices=[('test', 'Test clip'), ('reference', 'Reference'), ('a', 'A'), ('b', 'B'), ('x', 'X'), ('hidden_reference', 'Hidden reference'), ('anchor', 'Anchor')], max_length=16)),
                ('clip', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='trial_clips', to='listening.clip')),
                ('trial', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='trial_clips', to='listening.playlistitem')),
            ],
            options={
                'ordering': ['trial', 'position'],
                'constraints': [
                    models.UniqueConstraint(fields=('trial', 'position'), name='trial_clip_position_unique'),
                    models.UniqueConstraint(condition=models.Q(('role__in', ['a', 'b', 'x', 'reference', 'hidden_reference'])), fields=('trial', 'role'), name='trial_clip_role_unique'),
                    models.CheckConstraint(condition=models.Q(('role__in', ['test', 'reference', 'a', 'b', 'x', 'hidden_reference', 'anchor'])), name='trial_clip_role_known'),
                ],
            },
        ),
        migrations.CreateModel(
            name='ConditionScore',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('score', models.SmallIntegerField()),
                ('play_count', models.PositiveSmallIntegerField(default=0)),
                ('played_seconds', models.FloatField(default=0.0)),
                ('response', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='condition_scores', to='listening.rating')),
                ('trial_clip', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='condition_scores', to='listening.trialclip')),
            ],
            options={
                'ordering': ['response', 'trial_clip__position'],
                'constraints': [
                    models.UniqueConstraint(fields=('response', 'trial_clip'), name='one_score_per_response_and_condition'),
                    models.CheckConstraint(condition=models.Q(('score__gte', 0), ('score__lte', 100)), name='condition_score_range'),
                    models.CheckConstraint(condition=models.Q(('played_seconds__gte', 0)), name='condition_score_played_seconds'),
                ],
            },
        ),
        *_added('playlistitem', [
            ('expected_choice', models.CharField(blank=True, help_text='Gold items of AB and ABX: the answer an attentive listener gives.', max_length=8)),
        ]),
        *_added('rating', [
            ('choice', models.CharField(blank=True, choices=[('a', 'A'), ('b', 'B'), ('tie', 'No preference')], help_text='AB: a, b or tie; ABX: a or b, what the listener says X is.', max_length=8)),
            ('play_counts', models.JSONField(blank=True, default=list, help_text="Plays of each of the trial's clips, in their order on the page.")),
            ('test_type', models.CharField(choices=[('acr', 'ACR: rate each clip (MOS)'), ('ccr', 'CCR: rate the second clip against the first (CMOS)'), ('ab', 'AB: which of two clips is better (preference)'), ('abx', 'ABX: is X the same as A or as B (discrimination)'), ('smos', 'SMOS: how similar are two voices (speaker similarity)'), ('mushra', 'MUSHRA: rate all conditions of a sentence side by side, 0–100'), ('transcription', 'Transcription: type what was said (intelligibility)')], default='acr', max_length=16)),
            ('text', models.TextField(blank=True, help_text='Transcription: what the listener typed, as typed (the analysis normalises it).')),
        ]),
        *_added('study', [
            ('allow_tie', models.BooleanField(default=True, help_text="AB: offer 'No preference' beside A and B.")),
            ('comparison', models.CharField(choices=[('reference', 'Each system against the reference'), ('systems', 'Every pair of systems')], default='reference', help_text='CCR: each system against the reference, or every pair of systems.', max_length=16)),
            ('reference_system', models.ForeignKey(blank=True, help_text='The natural recordings of the target speaker: what CCR compares against and the voice SMOS compares with.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='listening.system')),
            ('reference_text', models.CharField(choices=[('same', 'The reference speaks the same sentence'), ('different', 'The reference speaks a different sentence')], default='same', help_text="SMOS: whether the reference clip speaks the test clip's sentence.", max_length=16)),
            ('scale_labels', models.JSONField(blank=True, default=list, help_text="The study's own labels of the answer scale, best first (empty: the standard ones).")),
            ('test_type', models.CharField(choices=[('acr', 'ACR: rate each clip (MOS)'), ('ccr', 'CCR: rate the second clip against the first (CMOS)'), ('ab', 'AB: which of two clips is better (preference)'), ('abx', 'ABX: is X the same as A or as B (discrimination)'), ('smos', 'SMOS: how similar are two voices (speaker similarity)'), ('mushra', 'MUSHRA: rate all conditions of a sentence side by side, 0–100'), ('transcription', 'Transcription: type what was said (intelligibility)')], default='acr', help_text='What a trial presents and what the listener answers.', max_length=16)),
            ('mushra_conditions_per_page', models.PositiveSmallIntegerField(default=12, help_text="MUSHRA: conditions rated on one page, at most 12 (BS.1534-3); with fewer than the study's conditions each listener gets a balanced subset of the systems.", validators=[django.core.validators.MinValueValidator(2), django.core.validators.MaxValueValidator(12)])),
            ('mushra_keep_position', models.BooleanField(default=True, help_text='MUSHRA: switching to another condition keeps the playback position (off: each condition starts again from its beginning).')),
            ('mushra_mid_anchor', models.BooleanField(default=True, help_text='MUSHRA: present the 7 kHz mid anchor beside the 3.5 kHz low anchor.')),
            ('mushra_reference_free', models.BooleanField(default=False, help_text='MUSHRA without an open or hidden reference (ITU-R BS.2132 style), for speech that has no natural recording.')),
            ('transcription_max_plays', models.PositiveSmallIntegerField(default=1, help_text='Transcription: how many times a listener may play each clip.', validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(10)])),
        ]),
        *_added('system', [
            ('anchor_kind', models.CharField(choices=[('mnru', 'MNRU noise (ITU-T P.810)'), ('lowpass3500', 'Low-pass 3.5 kHz (MUSHRA low anchor, ITU-R BS.1534-3)'), ('lowpass7000', 'Low-pass 7 kHz (MUSHRA mid anchor, ITU-R BS.1534-3)')], default='mnru', help_text='For an anchor: MNRU noise at anchor_q_db, or a MUSHRA low-pass filter.', max_length=16)),
        ]),
        *_altered('playlistitem', [
            ('clip', models.ForeignKey(blank=True, help_text="The rated clip of a trial that rates one clip (ACR; SMOS's test clip); empty for a comparison, whose clips are its trial clips.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='playlist_items', to='listening.clip')),
            ('expected_score', models.SmallIntegerField(blank=True, help_text='Gold items: the score an attentive listener gives (CCR: −3…+3).', null=True)),
        ]),
        *_altered('rating', [
            ('clip', models.ForeignKey(blank=True, help_text='The rated clip, for a test type that rates one (ACR, SMOS).', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='ratings', to='listening.clip')),
            ('score', models.SmallIntegerField(blank=True, help_text='ACR and SMOS: 1–5; CCR: −3…+3, the second clip against the first.', null=True)),
        ]),
        *_altered('system', [
            ('anchor_source', models.ForeignKey(blank=True, help_text="Anchors are derived from this system's clips.", null=True, on_delete=django.db.models.deletion.CASCADE, related_name='anchors', to='listening.system')),
            ('kind', models.CharField(choices=[('voice', 'Synthesised with a voice'), ('uploaded', 'Uploaded audio'), ('reference', 'Natural reference'), ('anchor', 'Anchor (MNRU or low-pass)')], max_length=16)),
        ]),
        *_constraints_added([
            ('playlistitem', models.CheckConstraint(condition=models.Q(('expected_score__isnull', True), models.Q(('expected_score__gte', -3), ('expected_score__lte', 5)), _connector='OR'), name='item_expected_score_range')),
            ('playlistitem', models.CheckConstraint(condition=models.Q(('expected_choice__in', ['', 'a', 'b', 'tie'])), name='item_expected_choice_known')),
            ('rating', models.CheckConstraint(condition=models.Q(models.Q(models.Q(('choice', ''), ('score__gte', 1), ('score__isnull', False), ('score__lte', 5), ('test_type__in', ['acr', 'smos'])), models.Q(('choice', ''), ('score__gte', -3), ('score__isnull', False), ('score__lte', 3), ('test_type', 'ccr')), models.Q(('choice__in', ['a', 'b', 'tie']), ('score__isnull', True), ('test_type', 'ab')), models.Q(('choice__in', ['a', 'b']), ('score__isnull', True), ('test_type', 'abx')), models.Q(('choice', ''), ('score__isnull', True), ('test_type', 'mushra')), models.Q(('choice', ''), ('score__isnull', True), ('test_type', 'transcription'), models.Q(('text', ''), _negated=True)), _connector='OR'), models.Q(('test_type', 'transcription'), ('text', ''), _connector='OR')), name='rating_answer_fits_test_type')),
            ('study', models.CheckConstraint(condition=models.Q(('test_type__in', ['acr', 'ccr', 'ab', 'abx', 'smos', 'mushra', 'transcription'])), name='study_test_type_known')),
            ('study', models.CheckConstraint(condition=models.Q(('mushra_conditions_per_page__gte', 2), ('mushra_conditions_per_page__lte', 12)), name='study_mushra_conditions_per_page_range')),
            ('study', models.CheckConstraint(condition=models.Q(('transcription_max_plays__gte', 1), ('transcription_max_plays__lte', 10)), name='study_transcription_max_plays_range')),
            ('system', models.CheckConstraint(condition=models.Q(models.Q(('kind', 'anchor'), _negated=True), models.Q(('anchor_source__isnull', False), models.Q(models.Q(('anchor_kind', 'mnru'), ('anchor_q_db__isnull', False)), models.Q(('anchor_kind__in', ['lowpass3500', 'lowpass7000']), ('anchor_q_db__isnull', True)), _connector='OR')), _connector='OR'), name='system_anchor_has_source_and_setting')),
        ]),
        # Last, on the final tables: the old rows already fit every constraint above (an ACR
        # rating is test_type acr, choice and text empty, score 1-5), and the step only reads
        # PlaylistItem.clip and Rating.play_count and writes TrialClip and Rating.play_counts.
        migrations.RunPython(acr_trials_present_their_clip, migrations.RunPython.noop),
    ]
